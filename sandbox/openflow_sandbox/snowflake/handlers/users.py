"""CREATE / ALTER / DROP / DESCRIBE / SHOW USERS. Key material never leaves: only fingerprints."""

from __future__ import annotations

import json

from .. import auth, errors
from ..context import Ctx, Outcome, Rule
from ..results import Result, columns, executed, properties_result, status
from ..sqltext import Parser, Value, fq, like_matches
from ..state import User, now

USER_PROPERTIES = frozenset(
    {
        "TYPE",
        "LOGIN_NAME",
        "DISPLAY_NAME",
        "FIRST_NAME",
        "LAST_NAME",
        "EMAIL",
        "PASSWORD",
        "MUST_CHANGE_PASSWORD",
        "DISABLED",
        "DEFAULT_WAREHOUSE",
        "DEFAULT_NAMESPACE",
        "DEFAULT_ROLE",
        "DEFAULT_SECONDARY_ROLES",
        "RSA_PUBLIC_KEY",
        "RSA_PUBLIC_KEY_2",
        "COMMENT",
    }
)
# what a user may change on itself without owning the user object
SELF_SERVICE = frozenset(
    {
        "RSA_PUBLIC_KEY",
        "RSA_PUBLIC_KEY_2",
        "DEFAULT_WAREHOUSE",
        "DEFAULT_NAMESPACE",
        "DEFAULT_ROLE",
        "DEFAULT_SECONDARY_ROLES",
    }
)
USER_TYPES = ("PERSON", "SERVICE", "LEGACY_SERVICE")


def _single_name(value: Value) -> str:
    parts = value.as_name()
    if len(parts) != 1:
        raise errors.invalid_value(f"invalid identifier '{value.text}'")
    return parts[0]


def _public_key(value: Value) -> str:
    try:
        return auth.normalize_public_key(value.as_text())
    except ValueError as exc:
        raise errors.invalid_value(f"Invalid public key: {exc}") from None


def _secondary_roles(value: Value) -> tuple[str, ...]:
    items = tuple(v.text.upper() for v in value.items)
    if value.kind != "list" or items not in ((), ("ALL",)):
        raise errors.invalid_value("DEFAULT_SECONDARY_ROLES must be ('ALL') or ()")
    return items


def _apply(user: User, props: dict[str, Value]) -> None:
    for key, value in props.items():
        match key:
            case "TYPE":
                kind = value.as_text().upper()
                if kind not in USER_TYPES:
                    raise errors.invalid_value(f"invalid value [{value.text}] for parameter 'TYPE'")
                user.user_type = kind
            case "PASSWORD":
                user.password_hash = auth.hash_password(value.as_text())
            case "MUST_CHANGE_PASSWORD":
                user.must_change_password = value.as_bool()
            case "DISABLED":
                user.disabled = value.as_bool()
            case "DEFAULT_ROLE":
                user.default_role = _single_name(value)
            case "DEFAULT_WAREHOUSE":
                user.default_warehouse = _single_name(value)
            case "DEFAULT_SECONDARY_ROLES":
                user.default_secondary_roles = _secondary_roles(value)
            case "RSA_PUBLIC_KEY":
                user.rsa_public_key, user.rsa_public_key_set_on = _public_key(value), now()
            case "RSA_PUBLIC_KEY_2":
                user.rsa_public_key_2, user.rsa_public_key_2_set_on = _public_key(value), now()
            case _:
                attribute = key.lower()
                setattr(user, attribute, value.as_text())
    if user.user_type == "SERVICE" and user.password_hash is not None:
        raise errors.invalid_value("Cannot set PASSWORD for a user of TYPE SERVICE.")


def _unset(user: User, prop: str) -> None:
    defaults = User(name=user.name, login_name=user.name.upper(), owner=user.owner)
    match prop:
        case "PASSWORD":
            user.password_hash = None
        case "RSA_PUBLIC_KEY":
            user.rsa_public_key, user.rsa_public_key_set_on = None, None
        case "RSA_PUBLIC_KEY_2":
            user.rsa_public_key_2, user.rsa_public_key_2_set_on = None, None
        case _:
            attribute = {"TYPE": "user_type"}.get(prop, prop.lower())
            setattr(user, attribute, getattr(defaults, attribute))


def create_user(ctx: Ctx, p: Parser) -> Outcome:
    if_not_exists = p.accept("IF", "NOT", "EXISTS")
    name = p.ident()
    p.accept("WITH")
    props = p.properties(allow=USER_PROPERTIES)
    p.end()
    ctx.require_account("CREATE USER")
    if name in ctx.state.users:
        if if_not_exists:
            return status(f"{name} already exists, statement succeeded.")
        if "OR REPLACE" not in ctx.flags:
            raise errors.already_exists("User", fq(name))
        _drop_user(ctx, name)
    user = User(name=name, login_name=name.upper(), owner=ctx.session.role)
    _apply(user, props)
    ctx.state.users[name] = user
    return status(f"User {fq(name)} successfully created.")


def _require_user_admin(ctx: Ctx, name: str, keys: set[str]) -> None:
    if name == ctx.session.user and keys <= SELF_SERVICE:
        return
    ctx.require_owner_or("OWNERSHIP", "USER", (name,))


def alter_user(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    name = p.ident()
    if name not in ctx.state.users:
        if if_exists:
            return executed()
        raise errors.does_not_exist("User", fq(name))
    user = ctx.state.users[name]
    if p.accept("SET"):
        props = p.properties(allow=USER_PROPERTIES)
        p.end()
        if not props:
            raise p.error()
        _require_user_admin(ctx, name, set(props))
        _apply(user, props)
    elif p.accept("UNSET"):
        keys = [p.word()]
        while p.accept_symbol(","):
            keys.append(p.word())
        p.end()
        unknown = set(keys) - USER_PROPERTIES
        if unknown:
            raise errors.invalid_value(f"invalid property '{sorted(unknown)[0]}' for 'USER'")
        _require_user_admin(ctx, name, set(keys))
        for key in keys:
            _unset(user, key)
    elif p.accept("RENAME", "TO"):
        new = p.ident()
        p.end()
        _require_user_admin(ctx, name, {"NAME"})
        if new in ctx.state.users:
            raise errors.already_exists("User", fq(new))
        del ctx.state.users[name]
        user.name = new
        ctx.state.users[new] = user
        for g in ctx.state.role_grants:
            if (g.grantee_type, g.grantee) == ("USER", name):
                g.grantee = new
    else:
        raise errors.unsupported(p.sql)
    return executed()


def _drop_user(ctx: Ctx, name: str) -> None:
    ctx.require_owner_or("OWNERSHIP", "USER", (name,))
    del ctx.state.users[name]
    ctx.state.role_grants = [
        g for g in ctx.state.role_grants if (g.grantee_type, g.grantee) != ("USER", name)
    ]


def drop_user(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    name = p.ident()
    p.end()
    if name not in ctx.state.users:
        if if_exists:
            return status(f"Drop statement executed successfully ({fq(name)} already dropped).")
        raise errors.does_not_exist("User", fq(name))
    _drop_user(ctx, name)
    return status(f"{fq(name)} successfully dropped.")


def _secondary_text(user: User) -> str | None:
    return None if user.default_secondary_roles is None else json.dumps(list(user.default_secondary_roles))


def describe_user(ctx: Ctx, p: Parser) -> Outcome:
    name = p.ident()
    p.end()
    ctx.user(name)
    if name != ctx.session.user:
        ctx.require_owner_or("OWNERSHIP", "USER", (name,))
    u = ctx.state.users[name]

    def text(value: object) -> str:
        return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    def fp(key: str | None) -> str | None:
        return auth.fingerprint(key) if key else None

    rows = [
        ("NAME", u.name, "null", "Name"),
        ("COMMENT", u.comment, "null", "user comment associated to an object in the dictionary"),
        ("DISPLAY_NAME", u.display_name or u.name, "null", "Display name of the associated object"),
        ("TYPE", u.user_type, "null", "Type of the user"),
        ("LOGIN_NAME", u.login_name, "null", "Login name of the user"),
        ("FIRST_NAME", u.first_name, "null", "First name of the user"),
        ("LAST_NAME", u.last_name, "null", "Last name of the user"),
        ("EMAIL", u.email, "null", "Email address of the user"),
        ("PASSWORD", "********" if u.password_hash else None, "null", "Password of the user"),
        ("MUST_CHANGE_PASSWORD", u.must_change_password, "false", "User must change the password"),
        ("DISABLED", u.disabled, "false", "Whether the user is disabled"),
        ("DEFAULT_WAREHOUSE", u.default_warehouse, "null", "Default warehouse for this user"),
        ("DEFAULT_NAMESPACE", u.default_namespace, "null", "Default database namespace prefix for this user"),
        (
            "DEFAULT_ROLE",
            u.default_role,
            "null",
            "Primary principal of user session will be set to this role",
        ),
        ("DEFAULT_SECONDARY_ROLES", _secondary_text(u), "null", "The secondary roles set for this user"),
        ("RSA_PUBLIC_KEY_FP", fp(u.rsa_public_key), "null", "Fingerprint of user's RSA public key."),
        (
            "RSA_PUBLIC_KEY_LAST_SET_TIME",
            u.rsa_public_key_set_on,
            "null",
            "The timestamp when the key was set",
        ),
        (
            "RSA_PUBLIC_KEY_2_FP",
            fp(u.rsa_public_key_2),
            "null",
            "Fingerprint of user's second RSA public key.",
        ),
        (
            "RSA_PUBLIC_KEY_2_LAST_SET_TIME",
            u.rsa_public_key_2_set_on,
            "null",
            "The timestamp when key 2 was set",
        ),
    ]
    return properties_result([(prop, text(value), default, desc) for prop, value, default, desc in rows])


SHOW_USERS_COLUMNS = (
    "name created_on:ts login_name display_name first_name last_name email mins_to_unlock days_to_expiry "
    "comment disabled must_change_password snowflake_lock default_warehouse default_namespace default_role "
    "default_secondary_roles ext_authn_duo ext_authn_uid mins_to_bypass_mfa owner last_success_login:ts "
    "expires_at_time:ts locked_until_time:ts has_password has_rsa_public_key type has_mfa"
)


def show_users(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    p.end()
    see_all = ctx.can("MANAGE GRANTS")
    rows: list[list[object]] = []
    for name in sorted(ctx.state.users):
        u = ctx.state.users[name]
        if not like_matches(pattern, name) or not (see_all or u.owner in ctx.roles()):
            continue
        rows.append(
            [
                u.name,
                u.created_on,
                u.login_name,
                u.display_name or u.name,
                u.first_name,
                u.last_name,
                u.email,
                None,
                None,
                u.comment,
                u.disabled,
                u.must_change_password,
                False,
                u.default_warehouse,
                u.default_namespace,
                u.default_role,
                _secondary_text(u),
                False,
                None,
                None,
                u.owner,
                None,
                None,
                None,
                u.password_hash is not None,
                u.rsa_public_key is not None or u.rsa_public_key_2 is not None,
                u.user_type,
                False,
            ]
        )
    return Result(columns(SHOW_USERS_COLUMNS), list(rows))


RULES = [
    Rule("CREATE [OR REPLACE] USER", create_user, "write"),
    Rule("ALTER USER", alter_user, "write"),
    Rule("DROP USER", drop_user, "write"),
    Rule("{DESC|DESCRIBE} USER", describe_user, "read"),
    Rule("SHOW [TERSE] USERS", show_users, "read"),
]
