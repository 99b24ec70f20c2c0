"""An index of findings by their lower-cased resource id: a resource's findings (its dashboard page, the API's
findings of one resource, `shoko history RESOURCE`) are read from the index, instead of every finding of every run
asked about.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_findings_resource_id_lower"


def upgrade() -> None:
    op.create_index(INDEX, "findings", [sa.text("lower(resource_id)")])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="findings")
