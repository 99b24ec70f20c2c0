"""The dashboard's words in Japanese and English. Statuses are always shown in both (auditors quote them)."""

from __future__ import annotations

from fastapi import Request

LANG_COOKIE = "shoko_lang"
STATUS_ORDER = ("fail", "error", "expired", "partial", "manual", "attested", "inherited", "pass", "not_applicable")
STATUS = {
    "pass": ("適合", "pass"),
    "fail": ("不適合", "fail"),
    "error": ("取得不可", "error"),
    "partial": ("一部確認", "partial"),
    "manual": ("要確認", "manual"),
    "attested": ("確認済", "attested"),
    "expired": ("期限切れ", "expired"),
    "inherited": ("継承", "inherited"),
    "not_applicable": ("対象外", "n/a"),
}
LABELS = {
    "app": ("shoko 統制証跡", "shoko control evidence"),
    "skip": ("本文へ移動", "Skip to content"),
    "nav": ("メニュー", "Menu"),
    "matrix": ("準拠マトリクス", "Compliance matrix"),
    "drift": ("変化の履歴", "Drift timeline"),
    "accounts": ("アカウント台帳", "Accounts"),
    "inventory": ("リソース台帳", "Resource inventory"),
    "runs": ("実行履歴", "Runs"),
    "attestations": ("確認記録", "Attestations"),
    "signout": ("サインアウト", "Sign out"),
    "signed_in_as": ("サインイン中", "Signed in as"),
    "role": ("ロール", "role"),
    "filters": ("絞り込み", "Filters"),
    "status": ("状況", "Status"),
    "section": ("項目", "Section"),
    "responsibility": ("責任区分", "Responsibility"),
    "as_of": ("時点", "As of"),
    "as_of_help": ("例 2026-03-31 (空欄: 最新)", "e.g. 2026-03-31 (empty: latest)"),
    "all": ("すべて", "All"),
    "apply": ("表示", "Apply"),
    "counts": ("状況ごとの件数", "Count per status"),
    "total": ("合計", "Total"),
    "run": ("実行", "Run"),
    "no": ("No", "No"),
    "requirement": ("要求事項", "Requirement"),
    "reason": ("理由", "Reason"),
    "findings": ("検出結果", "Findings"),
    "check": ("チェック", "Check"),
    "resource": ("リソース", "Resource"),
    "evidence": ("証跡", "Evidence"),
    "raw_json": ("元の JSON", "raw JSON"),
    "history": ("状況の履歴", "Status history"),
    "history_help": (
        "この要求事項を評価した実行ごとの判定 (新しい順、50 件ずつ)",
        "Its verdict in each run that judged it (newest first, 50 at a time)",
    ),
    "changed": ("変化", "changed"),
    "newest": ("← 最新へ", "← Newest"),
    "older_runs": ("それ以前の実行 →", "Older runs →"),
    "before": ("前", "Before"),
    "after": ("後", "After"),
    "when": ("日時", "When"),
    "kind": ("種類", "Kind"),
    "none": ("ありません", "None"),
    "export": ("スナップショットを出力 (署名付き zip)", "Export snapshot (signed zip)"),
    "collect_now": ("今すぐ収集", "Collect now"),
    "collect_started": (
        "収集を開始しました。完了すると一覧に表示されます。",
        "Collection started; it appears here when done.",
    ),
    "coverage": ("自動確認の範囲", "Coverage"),
    "claim": ("要求事項の内容", "What is required"),
    "errors": ("収集エラー", "Collection errors"),
    "outcome": ("結果", "Outcome"),
    "started": ("開始", "Started"),
    "finished": ("終了", "Finished"),
    "duration": ("所要時間 (秒)", "Duration (s)"),
    "code": ("コード", "Code"),
    "message": ("内容", "Message"),
    "scope": ("範囲", "Scope"),
    "name": ("名前", "Name"),
    "type": ("種別", "Type"),
    "privileged": ("特権", "Privileged"),
    "enabled": ("有効", "Enabled"),
    "last_sign_in": ("最終サインイン", "Last sign-in"),
    "flags": ("指摘", "Flags"),
    "location": ("場所", "Location"),
    "owner": ("責任者", "Owner"),
    "resource_group": ("リソースグループ", "Resource group"),
    "add_attestation": ("確認記録を追加", "Add an attestation"),
    "requirements_field": ("要求事項 No (例 1,2 または 96-97)", "Requirement numbers (e.g. 1,2 or 96-97)"),
    "valid_until": ("有効期限", "Valid until"),
    "attested_on": ("確認日", "Attested on"),
    "statement_ja": ("確認内容 (日本語)", "Statement (Japanese)"),
    "statement_en": ("確認内容 (英語)", "Statement (English)"),
    "documents": ("添付資料 (任意)", "Documents (optional)"),
    "documents_help": (
        "規程・契約書・記録などのファイル。SHA-256 とともに台帳に保存されます",
        "Policies, contracts, records: kept in the ledger with their SHA-256",
    ),
    "at_most": ("1 ファイル最大", "each at most"),
    "record": ("記録する", "Record"),
    "revoke": ("取り消す", "Revoke"),
    "revoke_reason": ("取り消しの理由", "Reason for revoking"),
    "recorded_by": ("記録者", "Recorded by"),
    "state": ("状態", "State"),
    "revoked": ("取消済", "Revoked"),
    "attested_counts": (
        "新しい確認記録は次の実行 (「今すぐ収集」または定期実行) の評価から反映されます。",
        'A new attestation counts from the next run\'s evaluation ("Collect now" or the schedule).',
    ),
    "finding_counts": ("状況ごとの検出結果", "Findings per status"),
    "resource_contains": ("リソース ID (一部)", "Resource id contains"),
    "findings_order": ("不適合、取得不可、適合の順に表示します", "Failures first, then errors, then passes"),
    "no_matching_findings": ("条件に合う検出結果はありません。", "No findings match these filters."),
    "no_findings": ("この要求事項に自動の検出結果はありません。", "No automated findings for this requirement."),
    "error_title": ("エラー", "Error"),
    "back": ("準拠マトリクスへ戻る", "Back to the matrix"),
    "acknowledged": ("確認済み", "Acknowledged"),
    "acknowledgement": ("確認", "Acknowledgement"),
    "acknowledge": ("確認済みにする", "Acknowledge"),
    "ack_note": ("メモ (任意)", "Note (optional)"),
    "not_acknowledged": ("未確認", "Not acknowledged"),
    "pages": ("ページ", "Pages"),
    "previous": ("← 前へ", "← Previous"),
    "next": ("次へ →", "Next →"),
    "language": ("English", "日本語"),
    "resource_page": ("リソースの検出結果", "Findings for one resource"),
}


def language(request: Request) -> str:
    """?lang=ja|en, else the remembered choice, else Japanese."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return asked if asked in ("ja", "en") else "ja"


def label(key: str, lang: str) -> str:
    ja, en = LABELS[key]
    return en if lang == "en" else ja


def status_label(status: str, lang: str) -> str:
    """Both words, the page's language first: 不適合 fail / fail 不適合."""
    ja, en = STATUS.get(status, (status, status))
    return f"{en} {ja}" if lang == "en" else f"{ja} {en}"
