"""`/whatsapp/webhook`: the WhatsApp Cloud API's message status webhook (Authgear's route of the same
path). GET answers Meta's subscription check; POST takes status notifications signed with the
secret's `webhook.app_secret` (X-Hub-Signature-256), which app/messaging/whatsapp.py records for the
code steps' `delivery_status`. Without `whatsapp.cloud-api` `webhook` both answer 404."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.services import services

bp = Blueprint("whatsapp_webhook", __name__)

MAX_BODY = 1 << 20


@bp.route("/whatsapp/webhook", methods=["GET", "POST"])
def webhook() -> Response:
    svc = services()
    whatsapp = svc.sender.whatsapp
    if request.method == "GET":
        status, text = whatsapp.webhook_verify(request.args.get("hub.verify_token"), request.args.get("hub.challenge"))
    else:
        body = request.get_data(cache=False)[:MAX_BODY]
        status, text = whatsapp.webhook_receive(svc.store, body, request.headers.get("X-Hub-Signature-256"))
    return Response(text, status=status, mimetype="text/plain")
