"""Local and shared admin accounts: credentials that name no person and bypass Microsoft Entra ID.

A user name and password (or key) held by a service rather than by a person is a shared ID: whoever knows
it acts under it, and the logs cannot say who did. These checks find such credentials where Azure shows
them — SQL logins, PostgreSQL password authentication, storage account keys, a container registry's admin
user, App Service FTP/SCM publishing credentials — and the administrator names a vendor or a template
suggests (admin, root, azureuser, sa, ...), which name no person and are the first an attacker tries.
Accounts inside an operating system or a database beyond its server administrator are not visible to ARM.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, error_covering, field, norm_id, props, shown
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Fact kinds of collector/fetchers/virtual_machines.py, postgresql.py and local_accounts.py.
VIRTUAL_MACHINE = "virtual_machine"
POSTGRESQL_SERVER = "postgresql_server"
CONTAINER_REGISTRY = "container_registry"
PUBLISHING_CREDENTIALS_POLICIES = "publishing_credentials_policies"  # one {"value": [ftp, scm]} per site

_VMS = "microsoft.compute/virtualmachines"
_SQL = "microsoft.sql/servers"
_PG = "microsoft.dbforpostgresql/flexibleservers"
_SITES = ("microsoft.web/sites", "microsoft.web/sites/slots")


def _vm_os(vm: Evidence) -> str | None:
    """ "linux" / "windows" from the VM's OS profile or OS disk, None when neither says."""
    profile = field(vm.content, "properties", "osProfile")
    if isinstance(profile, dict):
        if isinstance(profile.get("linuxConfiguration"), dict):
            return "linux"
        if isinstance(profile.get("windowsConfiguration"), dict):
            return "windows"
    os_type = field(vm.content, "properties", "storageProfile", "osDisk", "osType")
    return os_type.lower() if isinstance(os_type, str) and os_type.lower() in ("linux", "windows") else None


def _pg_password_auth(server: Evidence) -> Any:
    """authConfig.passwordAuth; a server without authConfig predates the setting and takes passwords."""
    auth = props(server.content).get("authConfig")
    return "Enabled" if auth is None else field(auth, "passwordAuth")


# ---------------------------------------------------------------- admin names


def _admin_name_outcome(
    resource_id: str,
    subject_ja: str,
    subject_en: str,
    field_name: str,
    name: Any,
    defaults: frozenset[str],
    no_password_login: bool,
    *evidence: Evidence,
) -> Outcome:
    if name is None or (isinstance(name, str) and not name.strip()):
        if no_password_login:
            return passed(
                resource_id,
                f"{subject_ja} には {field_name} がなく、パスワードで使う管理者アカウントがありません",
                f"{subject_en} has no {field_name}: there is no password administrator account",
                *evidence,
            )
        return errored(
            resource_id,
            f"{subject_ja} の {field_name} が取得できず、管理者名を判定できません",
            f"{subject_en}: {field_name} was not returned, so the administrator name cannot be judged",
            *evidence,
        )
    if not isinstance(name, str):
        ja, en = shown(name)
        return errored(
            resource_id,
            f"{subject_ja} の {field_name} が文字列ではありません（{ja}）",
            f"{subject_en}: {field_name} is not a string ({en})",
            *evidence,
        )
    if name.strip().casefold() in defaults and no_password_login:
        return passed(
            resource_id,
            f"{subject_ja} の {field_name} は既定名「{name}」ですが、パスワード認証が無効のため"
            "この名前ではログオンできません",
            f"{subject_en} {field_name} is the default name '{name}', but password authentication is off, so it "
            "cannot log on",
            *evidence,
        )
    if name.strip().casefold() in defaults:
        return failed(
            resource_id,
            f"{subject_ja} の {field_name} が「{name}」で、既定または共用の管理者名（default_admin_names）です。"
            "個人を特定できる名前が必要です",
            f"{subject_en} {field_name} is '{name}', a default or shared administrator name (default_admin_names); "
            "a name that identifies its holder is required",
            *evidence,
        )
    return passed(
        resource_id,
        f"{subject_ja} の {field_name} は「{name}」で、既定・共用の管理者名ではありません",
        f"{subject_en} {field_name} is '{name}', not a default or shared administrator name",
        *evidence,
    )


@check(
    id="admin-names-not-default",
    title_ja="仮想マシン・SQL・PostgreSQL の管理者名が既定・共用の名前でない",
    title_en="VM, SQL and PostgreSQL administrator names are not default or shared names",
    judges=(_VMS, _SQL, _PG),
    reads=(VIRTUAL_MACHINE, FactKind.SQL_SERVER, POSTGRESQL_SERVER),
    per_subscription=True,  # one document at a time
    api="Virtual Machines - List All: properties.osProfile.adminUsername; Servers - List "
    "(Microsoft.Sql/servers, $expand=administrators/activedirectory): properties.administratorLogin, "
    "administrators.azureADOnlyAuthentication; Flexible Servers - List "
    "(Microsoft.DBforPostgreSQL/flexibleServers): properties.administratorLogin, authConfig.passwordAuth",
    rule_ja="仮想マシンの osProfile.adminUsername、SQL サーバー・PostgreSQL フレキシブルサーバーの administratorLogin "
    "が default_admin_names（既定: admin, administrator, root, azureuser, sa, guest, test, user など）のどれか"
    "（大文字小文字を区別しない）なら不合格、それ以外は合格。パスワード認証が無効（SQL の Entra 専用認証、PostgreSQL "
    "の passwordAuth Disabled）のサーバーは、管理者ログインが既定名でもログオンに使えないため合格（管理者ログインが"
    "ない場合も合格）。osProfile のない仮想マシン（特殊化ディスク"
    "から作成）など名前を読めないときはエラー。",
    rule_en="Fails when a VM's osProfile.adminUsername, or a SQL or PostgreSQL flexible server's administratorLogin, "
    "is one of default_admin_names (default: admin, administrator, root, azureuser, sa, guest, test, user, ...), "
    "compared case-insensitively; passes otherwise. A server with password authentication off (SQL Entra-only "
    "authentication, PostgreSQL passwordAuth Disabled) passes, default-named or without an administratorLogin, as "
    "its administrator login cannot log on. A name that cannot be "
    "read (e.g. a VM with no osProfile, created from a specialized disk) is an error.",
    remediation_ja="既定名の管理者は作成時にしか変えられないため、個人または役割が分かる名前の管理者で作り直すか、"
    "OS 内で個人アカウントを作成して既定名のアカウントを無効化・削除する。SQL・PostgreSQL は Microsoft Entra "
    "認証のみにしてパスワード管理者を使わない。",
    remediation_en="An administrator name is set only at creation: recreate the resource with a name that identifies "
    "its holder, or create personal accounts inside the OS and disable or remove the default-named one. For SQL "
    "and PostgreSQL, use Microsoft Entra authentication only so the password administrator is not used.",
    thresholds=("default_admin_names",),
)
def admin_names_not_default(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    defaults = frozenset(n.strip().casefold() for n in thresholds.default_admin_names)
    for vm in facts.of(VIRTUAL_MACHINE):
        name = display_name(vm)
        profile = field(vm.content, "properties", "osProfile")
        if not isinstance(profile, dict):
            yield errored(
                vm.resource_id,
                f"仮想マシン {name} に osProfile がなく（特殊化ディスクから作成など）、管理者名を判定できません",
                f"virtual machine {name} has no osProfile (e.g. created from a specialized disk), so its "
                "administrator name cannot be judged",
                vm,
            )
            continue
        yield _admin_name_outcome(
            vm.resource_id,
            f"仮想マシン {name}",
            f"virtual machine {name}",
            "osProfile.adminUsername",
            profile.get("adminUsername"),
            defaults,
            False,
            vm,
        )
    for server in facts.of(FactKind.SQL_SERVER):
        name = display_name(server)
        entra_only = field(server.content, "properties", "administrators", "azureADOnlyAuthentication") is True
        yield _admin_name_outcome(
            server.resource_id,
            f"SQL サーバー {name}",
            f"SQL server {name}",
            "administratorLogin",
            props(server.content).get("administratorLogin"),
            defaults,
            entra_only,
            server,
        )
    for server in facts.of(POSTGRESQL_SERVER):
        name = display_name(server)
        no_password = str(_pg_password_auth(server)).lower() == "disabled"
        yield _admin_name_outcome(
            server.resource_id,
            f"PostgreSQL サーバー {name}",
            f"PostgreSQL server {name}",
            "administratorLogin",
            props(server.content).get("administratorLogin"),
            defaults,
            no_password,
            server,
        )


# ---------------------------------------------------------------- Linux SSH keys


@check(
    id="linux-password-auth-disabled",
    title_ja="Linux 仮想マシンが SSH 鍵のみでログオンさせる（パスワード認証が無効）",
    title_en="Linux virtual machines accept SSH keys only (password authentication disabled)",
    judges=(_VMS,),
    reads=(VIRTUAL_MACHINE,),
    per_subscription=True,  # each judged on its own document alone
    api="Virtual Machines - List All (Microsoft.Compute/virtualMachines): "
    "properties.osProfile.linuxConfiguration.disablePasswordAuthentication, storageProfile.osDisk.osType",
    rule_ja="Linux 仮想マシン（osProfile.linuxConfiguration があるか osDisk.osType が Linux）の "
    "linuxConfiguration.disablePasswordAuthentication が true なら合格、false または未設定は不合格（作成時の管理者"
    "パスワードで SSH ログオンできる）。Windows 仮想マシンは判定しない。OS が分からない、または osProfile がない "
    "Linux 仮想マシンはエラー。",
    rule_en="For a Linux VM (osProfile.linuxConfiguration present, or osDisk.osType Linux), passes when "
    "linuxConfiguration.disablePasswordAuthentication is true; false or missing fails (the administrator password "
    "set at creation logs on over SSH). Windows VMs are not judged. A VM whose OS cannot be told, or a Linux VM "
    "with no osProfile, is an error.",
    remediation_ja="作業者ごとの SSH 公開鍵を登録し（az vm user update --ssh-key-value）、sshd_config で "
    "PasswordAuthentication no にする。ARM の設定は作成時にのみ決まるため、新しく作る VM では "
    "--authentication-type ssh を指定する。可能なら Microsoft Entra ログイン（AADSSHLoginForLinux 拡張）を使う。",
    remediation_en="Register each operator's SSH public key (az vm user update --ssh-key-value) and set "
    "PasswordAuthentication no in sshd_config; the ARM setting is fixed at creation, so create new VMs with "
    "--authentication-type ssh. Prefer Microsoft Entra login (the AADSSHLoginForLinux extension) where possible.",
)
def linux_password_auth_disabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vm in facts.of(VIRTUAL_MACHINE):
        name = display_name(vm)
        os_kind = _vm_os(vm)
        if os_kind == "windows":
            continue
        if os_kind is None:
            yield errored(
                vm.resource_id,
                f"仮想マシン {name} の OS（osProfile・osDisk.osType）が分からず、SSH のパスワード認証を判定できません",
                f"virtual machine {name}: its OS (osProfile, osDisk.osType) cannot be told, so SSH password "
                "authentication cannot be judged",
                vm,
            )
            continue
        linux = field(vm.content, "properties", "osProfile", "linuxConfiguration")
        if not isinstance(linux, dict):
            yield errored(
                vm.resource_id,
                f"Linux 仮想マシン {name} に osProfile.linuxConfiguration がなく（特殊化ディスクから作成など）、"
                "SSH のパスワード認証を判定できません",
                f"Linux virtual machine {name} has no osProfile.linuxConfiguration (e.g. created from a specialized "
                "disk), so SSH password authentication cannot be judged",
                vm,
            )
            continue
        value = linux.get("disablePasswordAuthentication")
        ja, en = shown(value)
        user_ja, user_en = shown(field(vm.content, "properties", "osProfile", "adminUsername"))
        if value is True:
            yield passed(
                vm.resource_id,
                f"Linux 仮想マシン {name} の disablePasswordAuthentication は true で、SSH 鍵でのみログオンできます",
                f"Linux virtual machine {name} disablePasswordAuthentication is true: SSH keys only",
                vm,
            )
        else:
            yield failed(
                vm.resource_id,
                f"Linux 仮想マシン {name} の linuxConfiguration.disablePasswordAuthentication が {ja} で、管理者 "
                f"{user_ja} のパスワードで SSH ログオンできます（true が必要）",
                f"Linux virtual machine {name} linuxConfiguration.disablePasswordAuthentication is {en}: the "
                f"administrator {user_en} can log on over SSH with a password (true required)",
                vm,
            )


# ---------------------------------------------------------------- Entra-only databases


@check(
    id="sql-entra-only-authentication",
    title_ja="Azure SQL サーバーが Microsoft Entra 認証のみを受け付ける（SQL ログインを使わない）",
    title_en="Azure SQL server accepts Microsoft Entra authentication only (no SQL logins)",
    judges=(_SQL,),
    reads=(FactKind.SQL_SERVER,),
    per_subscription=True,  # each judged on its own document alone
    api="Servers - List with $expand=administrators/activedirectory (Microsoft.Sql/servers, one call per "
    "subscription): properties.administrators.azureADOnlyAuthentication, administratorLogin",
    rule_ja="administrators.azureADOnlyAuthentication が true なら合格。false、または Microsoft Entra 管理者が未設定"
    "（administrators がない: SQL 認証しか使えない）は不合格。値が真偽値でないときはエラー。",
    rule_en="Passes when administrators.azureADOnlyAuthentication is true. false, or no Microsoft Entra administrator "
    "(administrators missing: SQL authentication is the only way in), fails. A value that is not a boolean is an "
    "error.",
    remediation_ja="サーバーの [Microsoft Entra ID] で Entra 管理者（グループ）を設定し、"
    "「Microsoft Entra 認証のみをサポートする」をオンにする（az sql server ad-only-auth enable）。"
    "アプリケーションはマネージド ID で接続する。",
    remediation_en="Set a Microsoft Entra administrator (a group) under the server's Microsoft Entra ID and turn on "
    "Support only Microsoft Entra authentication (az sql server ad-only-auth enable); connect applications with "
    "managed identities.",
)
def sql_entra_only_authentication(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for server in facts.of(FactKind.SQL_SERVER):
        name = display_name(server)
        admins = props(server.content).get("administrators")
        login = props(server.content).get("administratorLogin")
        if not isinstance(admins, dict):
            yield failed(
                server.resource_id,
                f"SQL サーバー {name} には Microsoft Entra 管理者（administrators）が設定されておらず、SQL ログイン"
                f"（管理者 {shown(login)[0]}）でしか接続できません（Entra 専用認証が必要）",
                f"SQL server {name} has no Microsoft Entra administrator (administrators not set): only SQL logins "
                f"(administrator {shown(login)[1]}) can connect (Entra-only authentication required)",
                server,
            )
            continue
        value = admins.get("azureADOnlyAuthentication")
        ja, en = shown(value)
        if value is True:
            yield passed(
                server.resource_id,
                f"SQL サーバー {name} の administrators.azureADOnlyAuthentication は true で、SQL ログインは使えません",
                f"SQL server {name} administrators.azureADOnlyAuthentication is true: SQL logins are refused",
                server,
            )
        elif value is False or value is None:
            yield failed(
                server.resource_id,
                f"SQL サーバー {name} の administrators.azureADOnlyAuthentication が {ja} で、SQL ログイン（管理者 "
                f"{shown(login)[0]}）でも接続できます（true が必要）",
                f"SQL server {name} administrators.azureADOnlyAuthentication is {en}: SQL logins (administrator "
                f"{shown(login)[1]}) can also connect (true required)",
                server,
            )
        else:
            yield errored(
                server.resource_id,
                f"SQL サーバー {name} の administrators.azureADOnlyAuthentication の値 {ja} を解釈できません",
                f"SQL server {name} administrators.azureADOnlyAuthentication has a value that cannot be read ({en})",
                server,
            )


@check(
    id="postgresql-entra-authentication",
    title_ja="PostgreSQL フレキシブルサーバーのパスワード認証が無効（Microsoft Entra 認証のみ）",
    title_en="PostgreSQL flexible server has password authentication off (Microsoft Entra authentication only)",
    judges=(_PG,),
    reads=(POSTGRESQL_SERVER,),
    per_subscription=True,  # each judged on its own document alone
    api="Servers - List By Subscription (Microsoft.DBforPostgreSQL/flexibleServers): "
    "properties.authConfig.passwordAuth, authConfig.activeDirectoryAuth",
    rule_ja="authConfig.passwordAuth が Disabled で activeDirectoryAuth が Enabled なら合格。passwordAuth が Enabled"
    "（authConfig がない古いサーバーも Enabled として扱う）は不合格: 管理者ログインなどのパスワードロールで接続できる。"
    "値を解釈できないときはエラー。サーバー内に作られたロールの一覧は判定しない。",
    rule_en="Passes when authConfig.passwordAuth is Disabled and activeDirectoryAuth is Enabled. passwordAuth Enabled "
    "(an older server with no authConfig is treated as Enabled) fails: the administrator login and other password "
    "roles can connect. A value that cannot be read is an error. Roles created inside the server are not judged.",
    remediation_ja="サーバーの [認証] で認証方法を「Microsoft Entra 認証のみ」にする"
    "（az postgres flexible-server update --password-auth Disabled --microsoft-entra-auth Enabled）。"
    "先に Entra 管理者を追加し、アプリケーションはマネージド ID で接続する。",
    remediation_en="Under the server's Authentication choose Microsoft Entra authentication only "
    "(az postgres flexible-server update --password-auth Disabled --microsoft-entra-auth Enabled), after adding a "
    "Microsoft Entra administrator; connect applications with managed identities.",
)
def postgresql_entra_authentication(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for server in facts.of(POSTGRESQL_SERVER):
        name = display_name(server)
        password = _pg_password_auth(server)
        entra = field(server.content, "properties", "authConfig", "activeDirectoryAuth")
        pja, pen = shown(password)
        eja, een = shown(entra)
        p = password.lower() if isinstance(password, str) else None
        e = entra.lower() if isinstance(entra, str) else None
        if p == "enabled" or password is None:
            login = props(server.content).get("administratorLogin")
            yield failed(
                server.resource_id,
                f"PostgreSQL サーバー {name} の authConfig.passwordAuth が {pja} で、管理者 {shown(login)[0]} などの"
                "パスワードロールで接続できます（Disabled が必要）",
                f"PostgreSQL server {name} authConfig.passwordAuth is {pen}: password roles such as the "
                f"administrator {shown(login)[1]} can connect (Disabled required)",
                server,
            )
        elif p == "disabled" and e == "enabled":
            yield passed(
                server.resource_id,
                f"PostgreSQL サーバー {name} の passwordAuth は Disabled、activeDirectoryAuth は Enabled で、"
                "Microsoft Entra 認証のみを受け付けます",
                f"PostgreSQL server {name} passwordAuth is Disabled and activeDirectoryAuth is Enabled: Microsoft "
                "Entra authentication only",
                server,
            )
        else:
            yield errored(
                server.resource_id,
                f"PostgreSQL サーバー {name} の認証設定を解釈できません（passwordAuth {pja}、"
                f"activeDirectoryAuth {eja}）",
                f"PostgreSQL server {name} has authentication settings that cannot be read (passwordAuth {pen}, "
                f"activeDirectoryAuth {een})",
                server,
            )


# ---------------------------------------------------------------- shared keys and admin users


@check(
    id="storage-shared-key-disabled",
    title_ja="ストレージアカウントの共有キー（アカウントキー）による認可が無効",
    title_en="Storage account shared key (account key) authorization is disabled",
    judges=("microsoft.storage/storageaccounts",),
    reads=(FactKind.STORAGE_ACCOUNT,),
    per_subscription=True,  # each judged on its own document alone
    api="Storage Accounts - List (Microsoft.Storage/storageAccounts): properties.allowSharedKeyAccess",
    rule_ja="allowSharedKeyAccess が false なら合格。true、または未設定（Azure は未設定を true として扱う）は不合格: "
    "アカウントキーとそれで署名した SAS を持つ誰もが、誰か分からないまま全データにアクセスできる。",
    rule_en="Passes when allowSharedKeyAccess is false. true, or missing (Azure treats a missing value as true), "
    "fails: anyone holding an account key, or a SAS signed with one, reaches all the data without being identified.",
    remediation_ja="アプリケーションを Microsoft Entra 認証（マネージド ID とデータ ロール）に移してから、ストレージ"
    "アカウントの [構成] で「ストレージ アカウント キーへのアクセスを許可する」を無効にする"
    "（az storage account update --allow-shared-key-access false）。",
    remediation_en="Move applications to Microsoft Entra authorization (managed identities with data roles), then "
    "turn off Allow storage account key access under the account's Configuration "
    "(az storage account update --allow-shared-key-access false).",
)
def storage_shared_key_disabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for account in facts.of(FactKind.STORAGE_ACCOUNT):
        name = display_name(account)
        value = props(account.content).get("allowSharedKeyAccess")
        ja, en = shown(value)
        if value is False:
            yield passed(
                account.resource_id,
                f"ストレージアカウント {name} の allowSharedKeyAccess は false で、アカウントキーでは認可されません",
                f"storage account {name} allowSharedKeyAccess is false: account keys are not accepted",
                account,
            )
        elif value is True or value is None:
            yield failed(
                account.resource_id,
                f"ストレージアカウント {name} の allowSharedKeyAccess が {ja} で、共有のアカウントキーで誰でも"
                "アクセスできます（false が必要）",
                f"storage account {name} allowSharedKeyAccess is {en}: the shared account keys grant access to "
                "whoever holds them (false required)",
                account,
            )
        else:
            yield errored(
                account.resource_id,
                f"ストレージアカウント {name} の allowSharedKeyAccess の値 {ja} を解釈できません",
                f"storage account {name} allowSharedKeyAccess has a value that cannot be read ({en})",
                account,
            )


@check(
    id="container-registry-admin-user-disabled",
    title_ja="コンテナーレジストリの管理者ユーザー（共用アカウント）が無効",
    title_en="Container registry admin user (a shared account) is disabled",
    judges=("microsoft.containerregistry/registries",),
    reads=(CONTAINER_REGISTRY,),
    per_subscription=True,  # each judged on its own document alone
    api="Registries - List (Microsoft.ContainerRegistry/registries, one call per subscription): "
    "properties.adminUserEnabled",
    rule_ja="adminUserEnabled が false なら合格、true は不合格（レジストリ名のユーザーと 2 つのパスワードを共用し、"
    "誰が push・pull したか分からない）。値がない・解釈できないときはエラー。",
    rule_en="Passes when adminUserEnabled is false; true fails (one user named after the registry with two shared "
    "passwords: who pushed or pulled cannot be told). A missing or unreadable value is an error.",
    remediation_ja="CI やクラスターをマネージド ID・サービスプリンシパル（AcrPush / AcrPull ロール）やリポジトリ範囲の"
    "トークンに移してから、レジストリの [アクセス キー] で管理者ユーザーを無効にする"
    "（az acr update --admin-enabled false）。",
    remediation_en="Move CI and clusters to managed identities or service principals (AcrPush / AcrPull roles) or "
    "repository-scoped tokens, then turn off Admin user under the registry's Access keys "
    "(az acr update --admin-enabled false).",
)
def container_registry_admin_user_disabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for registry in facts.of(CONTAINER_REGISTRY):
        name = display_name(registry)
        value = props(registry.content).get("adminUserEnabled")
        ja, en = shown(value)
        if value is False:
            yield passed(
                registry.resource_id,
                f"コンテナーレジストリ {name} の adminUserEnabled は false です",
                f"container registry {name} adminUserEnabled is false",
                registry,
            )
        elif value is True:
            yield failed(
                registry.resource_id,
                f"コンテナーレジストリ {name} の adminUserEnabled が true で、共用の管理者ユーザー {name} と"
                "そのパスワードで push・pull できます（false が必要）",
                f"container registry {name} adminUserEnabled is true: the shared admin user {name} and its "
                "passwords can push and pull (false required)",
                registry,
            )
        else:
            yield errored(
                registry.resource_id,
                f"コンテナーレジストリ {name} の adminUserEnabled が {ja} で、判定できません",
                f"container registry {name} adminUserEnabled is {en}, so it cannot be judged",
                registry,
            )


# ---------------------------------------------------------------- App Service publishing credentials

_POLICIES = ("ftp", "scm")


@check(
    id="app-service-basic-auth-disabled",
    title_ja="App Service の FTP・SCM 基本認証（発行資格情報）が無効",
    title_en="App Service FTP and SCM basic authentication (publishing credentials) is disabled",
    judges=_SITES,
    reads=(FactKind.WEB_SITE, PUBLISHING_CREDENTIALS_POLICIES),
    per_subscription=True,  # a site's or slot's policies lie under its id
    per_resource=(PUBLISHING_CREDENTIALS_POLICIES,),
    api="Web Apps - List, List Slots; Web Apps - List Basic Publishing Credentials Policies (Slot) (one call per "
    "site and per slot): basicPublishingCredentialsPolicies/ftp and /scm properties.allow",
    rule_ja="サイト・スロットの basicPublishingCredentialsPolicies の ftp と scm がどちらも allow: false なら合格。"
    "どちらかが true なら不合格（サイト共通の発行ユーザー・パスワードや発行プロファイルで FTP・Kudu・Git デプロイ"
    "ができ、誰がデプロイしたか分からない）。ポリシーを取得できない・値を解釈できないときはエラー。",
    rule_en="Passes when the site's or slot's basicPublishingCredentialsPolicies ftp and scm both have allow: false. "
    "Either being true fails (the site-wide publishing user and password, or a publish profile, deploys over FTP, "
    "Kudu or Git, and who deployed cannot be told). Policies that were not collected or cannot be read are an error.",
    remediation_ja="デプロイを Microsoft Entra 認証（GitHub Actions の OIDC、Azure DevOps のサービス接続など）に"
    "移してから、"
    "サイトの [構成] > [全般設定] で「SCM 基本認証の発行資格情報」と「FTP 基本認証の発行資格情報」をオフにする"
    "（az resource update --set properties.allow=false --name ftp / scm --namespace Microsoft.Web "
    "--resource-type basicPublishingCredentialsPolicies --parent sites/<app>）。",
    remediation_en="Move deployments to Microsoft Entra authentication (GitHub Actions OIDC, an Azure DevOps service "
    "connection), then turn off SCM Basic Auth Publishing Credentials and FTP Basic Auth Publishing Credentials "
    "under the site's Configuration > General settings (az resource update --set properties.allow=false --name "
    "ftp / scm --namespace Microsoft.Web --resource-type basicPublishingCredentialsPolicies --parent sites/<app>).",
)
def app_service_basic_auth_disabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    policies = facts.by_id(PUBLISHING_CREDENTIALS_POLICIES)
    for site in facts.of(FactKind.WEB_SITE):
        name = display_name(site)
        kind_ja, kind_en = ("スロット", "slot") if "/slots/" in site.resource_id.lower() else ("サイト", "site")
        subject_ja, subject_en = f"App Service {kind_ja} {name}", f"App Service {kind_en} {name}"
        doc = policies.get(norm_id(site.resource_id))
        if doc is None:
            err = error_covering(facts, [PUBLISHING_CREDENTIALS_POLICIES], site.resource_id)
            cause_ja, cause_en = (f"（{err.code}）", f" ({err.code})") if err else ("", "")
            yield errored(
                site.resource_id,
                f"{subject_ja} の基本認証ポリシー（basicPublishingCredentialsPolicies）を取得できず判定できません"
                f"{cause_ja}",
                f"{subject_en}: its basic authentication policies (basicPublishingCredentialsPolicies) were not "
                f"collected{cause_en}",
                site,
            )
            continue
        found: dict[str, Any] = {}
        listed = doc.content.get("value")
        for item in listed if isinstance(listed, list) else []:
            key = str(item.get("name") or item.get("id") or "").rstrip("/").rsplit("/", 1)[-1].lower()
            if key in _POLICIES:
                found[key] = field(item, "properties", "allow")
        allowed = [p for p in _POLICIES if found.get(p) is True]
        unread = [p for p in _POLICIES if found.get(p) is not True and found.get(p) is not False]
        if allowed:
            which = " と ".join(allowed)
            yield failed(
                site.resource_id,
                f"{subject_ja} の基本認証ポリシー {which} が allow: true で、共用の発行資格情報でデプロイできます"
                "（ftp・scm とも allow: false が必要）",
                f"{subject_en} basic authentication policy {' and '.join(allowed)} is allow: true: shared publishing "
                "credentials can deploy (ftp and scm allow: false required)",
                site,
                doc,
            )
        elif unread:
            values = ", ".join(f"{p} {shown(found.get(p))[1]}" for p in unread)
            values_ja = "、".join(f"{p} {shown(found.get(p))[0]}" for p in unread)
            yield errored(
                site.resource_id,
                f"{subject_ja} の基本認証ポリシーの allow を読めません（{values_ja}）",
                f"{subject_en}: the allow value of its basic authentication policies cannot be read ({values})",
                site,
                doc,
            )
        else:
            yield passed(
                site.resource_id,
                f"{subject_ja} の基本認証ポリシー ftp・scm はどちらも allow: false です",
                f"{subject_en} basic authentication policies ftp and scm are both allow: false",
                site,
                doc,
            )
