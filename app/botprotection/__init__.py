"""Bot protection (CAPTCHA) as Authgear does it: Cloudflare Turnstile or reCAPTCHA v2 on sign-up,
sign-in and account recovery.

- schema.py: the config, flow-branch and secret schemas (validated by app/config.py);
- service.py: the provider, its keys and endpoints, and the check of one token;
- cloudflare.py, recaptchav2.py: one module per provider over siteverify.py;
- requirements.py: `bot_protection.requirements` on the branches of the default flows;
- flow.py: what the flow steps ask and check (option data, input, once per flow);
- errors.py: Forbidden/BotProtectionVerificationFailed and
  ServiceUnavailable/BotProtectionVerificationServiceUnavailable.
"""
