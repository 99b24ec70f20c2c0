"""The API's routers, one per subject; api/app.py includes them under /api/v1."""
