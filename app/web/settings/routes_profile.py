"""`/settings` (home), `/settings/profile` and `/settings/profile/<variant>/edit` (contract 7.2)."""

from __future__ import annotations

from flask import Response, abort, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from app.errors import AppError
from app.services import services
from app.web.blueprint import NATIVE_NAMES
from app.web.messages import second_factors_summary
from app.web.settings.blueprint import account, bp, ctx, done, error_view, form_error, me, render
from app.web.settings.forms import profile_form
from app.web.settings.profile import (
    VARIANT_TITLES,
    VARIANTS,
    Attribute,
    attributes_of,
    birthdate_text,
    changes_from,
    check_custom_types,
    gender_label,
    time_zones,
    zone_label,
)
from app.web.settings.selfservice import KINDS


def _languages() -> list[tuple[str, str]]:
    tags = services().config.project["localization"]["supported_languages"]
    return [(tag, NATIVE_NAMES.get(tag, tag)) for tag in tags]


def _label(user: object) -> str:
    attrs = getattr(user, "standard_attributes", None) or {}
    for key in ("name", "email", "phone_number", "preferred_username"):
        if attrs.get(key):
            return str(attrs[key])
    return ""


@bp.route("/settings")
def home() -> Response:
    acc, user = account(), me().user
    login_ids = [{"kind": kind, "count": len(acc.identities(user, kind))} for kind in KINDS if acc.login_id_keys(kind)]
    return render(
        "home",
        label=_label(user),
        attrs=user.standard_attributes or {},
        login_ids=login_ids,
        password=acc.primary_password_enabled,
        mfa=bool(acc.secondary_authenticators),
        mfa_summary=second_factors_summary(acc.secondary_authenticators, acc.recovery_codes_enabled),
        deletion=acc.deletion_enabled,
    )


@bp.route("/settings/identity")
@bp.route("/settings/identities")
def deprecated_identities() -> BaseResponse:
    return redirect("/settings", 302)


def _variants_shown() -> list[dict[str, object]]:
    acc, user = account(), me().user
    out = []
    for variant in VARIANTS:
        attributes = attributes_of(acc, user, variant, _languages())
        if attributes:
            out.append(
                {
                    "variant": variant,
                    "title": VARIANT_TITLES[variant],
                    "attributes": [_display(a) for a in attributes],
                    "editable": any(a.editable for a in attributes),
                    # One attribute named as its section (Gender, Birthday, ...): the value alone, no label.
                    "single": len(attributes) == 1 and str(attributes[0].label) == str(VARIANT_TITLES[variant]),
                }
            )
    return out


def _display(attr: Attribute) -> dict[str, object]:
    """An attribute's current value as the profile page shows it."""
    values = [str(f.get("value") or "") for f in attr.fields]
    if attr.name == "gender":
        choice, other = values[0], values[1]
        text = other if choice == "other" else (gender_label(choice) if choice else "")
    elif attr.name == "address":
        text = ", ".join(v for v in values if v)
    elif attr.name == "locale":
        text = dict(_languages()).get(values[0], values[0])
    elif attr.name == "birthdate":
        text = birthdate_text(values[0]) if values[0] else ""
    elif attr.name == "zoneinfo" and values[0] in time_zones():
        text = zone_label(values[0], services().clock())
    else:
        text = values[0]
    return {"name": attr.name, "label": attr.label, "value": text}


@bp.route("/settings/profile")
@bp.route("/settings/v2/profile")
def profile() -> Response:
    return render("profile", sections=_variants_shown())


@bp.route("/settings/profile/<variant>/edit", methods=["GET", "POST"])
def profile_edit(variant: str) -> Response:
    if variant not in VARIANTS:
        abort(404)
    acc, user = account(), me().user
    attributes = attributes_of(acc, user, variant, _languages())
    if not attributes:
        abort(404)
    fields = [f for a in attributes for f in a.fields]
    form_class = profile_form(fields)
    readonly = {f["name"] for a in attributes if not a.editable for f in a.fields}
    error = None
    if request.method == "POST":
        form = form_class()
        try:
            if not form.validate():
                raise form_error(form)
            standard, custom = changes_from(request.form.to_dict(), attributes, [t for t, _ in _languages()])
            check_custom_types(acc, custom)
            acc.update_profile(user, standard, custom, ctx())
            return done("profile_saved", "/settings/profile")
        except AppError as exc:
            from app.extensions import db

            db.session.rollback()
            error = exc
    else:
        form = form_class(formdata=None, data={f["name"]: f.get("value") or "" for f in fields})
    locations = {f"/{a.name}": a.fields[0]["name"] for a in attributes}
    status = error.status if error is not None else 200
    return render(
        "profile_edit",
        status=status,
        variant=variant,
        title=VARIANT_TITLES[variant],
        form=form,
        fields=fields,
        readonly=readonly,
        editable=any(a.editable for a in attributes),
        **error_view(error, "profile", locations),
    )


@bp.route("/settings/advanced_settings")
def advanced_settings() -> Response:
    return render("advanced_settings", deletion=account().deletion_enabled)
