"""Auth group: register, login, logout, /v1/me, API keys, row-level security."""

import uuid

from client import (PASSWORD, assert_envelope_error, assert_expires, assert_merchant, assert_ok,
                    call, check_each, create_key, fake_ip, login, parse_ts, psql, random_phone, register,
                    register_body, unique_email)


def post_register(body, ip=None):
    return call("POST", "/v1/auth/register", body, ip=ip or fake_ip())


# --- register ---------------------------------------------------------------

def test_register_returns_merchant_and_token():
    body = register_body(businessName="Himalayan Tea House")
    data = assert_ok(post_register(body), 201)
    assert set(data) >= {"merchant", "token", "expiresAt"}, f"missing keys: {data}"
    m = data["merchant"]
    assert_merchant(m, "Himalayan Tea House", body["email"], "+977" + body["phone"])
    assert data["token"].startswith("mst_") and len(data["token"]) > 20, f"bad token {data['token']!r}"
    assert_expires(data["expiresAt"])
    me = assert_ok(call("GET", "/v1/me", token=data["token"]))
    assert me == m, f"/v1/me {me} differs from the registered merchant {m}"


def test_register_normalises_phone():
    for spell in (str, "+977-{}".format, "977{}".format, "+977{}".format, "+977 {}".format):
        local = random_phone()
        merchant, _ = register(phone=spell(local))
        assert merchant["phone"] == "+977" + local, f"{spell(local)!r} stored as {merchant['phone']!r}"


def test_register_lowercases_email():
    email = unique_email()
    merchant, _ = register(email=email.replace("e2e-", "E2E-").replace("example.com", "Example.COM"))
    assert merchant["email"] == email, f"email stored as {merchant['email']!r}"
    assert_ok(login(email))


def test_register_duplicate_email_409():
    email = unique_email()
    register(email=email)
    for again in (email, email.upper()):
        assert_envelope_error(post_register(register_body(email=again)), 409, "email_taken")


def test_register_accepts_boundary_lengths():
    email = uuid.uuid4().hex + "a" * 32 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
    assert len(email) == 254
    for overrides in ({"businessName": "x" * 120, "password": "p" * 10},
                      {"businessName": "y", "password": "q" * 128, "email": email}):
        body = register_body(**overrides)
        m = assert_ok(post_register(body), 201)["merchant"]
        assert m["businessName"] == body["businessName"] and m["email"] == body["email"], m
        assert_ok(login(body["email"], body["password"]))


INVALID_REGISTER = [
    # (description, overrides, removed field, field named in the error)
    ("missing businessName", {}, "businessName", "businessName"),
    ("missing email", {}, "email", "email"),
    ("missing password", {}, "password", "password"),
    ("missing phone", {}, "phone", "phone"),
    ("businessName not a string", {"businessName": 123}, None, "businessName"),
    ("businessName null", {"businessName": None}, None, "businessName"),
    ("businessName empty", {"businessName": ""}, None, "businessName"),
    ("businessName 121 chars", {"businessName": "x" * 121}, None, "businessName"),
    ("email not a string", {"email": ["a@example.com"]}, None, "email"),
    ("email without @", {"email": "not-an-email"}, None, "email"),
    ("email without domain", {"email": "someone@"}, None, "email"),
    ("email 255 chars", {"email": "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com"}, None, "email"),
    ("password not a string", {"password": 12345678901}, None, "password"),
    ("password 9 chars", {"password": "p" * 9}, None, "password"),
    ("password 129 chars", {"password": "p" * 129}, None, "password"),
    ("phone not a string", {"phone": True}, None, "phone"),
    ("phone too short", {"phone": "98012345"}, None, "phone"),
    ("phone too long", {"phone": "980123456789"}, None, "phone"),
    ("phone letters", {"phone": "98abcdefgh"}, None, "phone"),
    ("phone foreign", {"phone": "+1-202-555-0100"}, None, "phone"),
    ("unknown field", {"role": "admin"}, None, "role"),
]


def assert_invalid_field(resp, field):
    err = assert_envelope_error(resp, 422, "validation_failed")
    assert field in err["message"], f"message {err['message']!r} does not name {field!r}"
    assert (err.get("details") or {}).get("field") == field, f"details.field is not {field!r}: {err}"


def test_register_invalid_fields_422():
    def check(case):
        _, overrides, removed, field = case
        body = register_body(**overrides)
        body.pop(removed, None)
        assert_invalid_field(post_register(body), field)

    check_each(INVALID_REGISTER, check)


# --- login / logout / me ----------------------------------------------------

def test_login_ok():
    merchant, _ = register()
    data = assert_ok(login(merchant["email"]))
    assert data["token"].startswith("mst_"), f"bad token {data['token']!r}"
    assert_expires(data["expiresAt"])
    assert data["merchant"] == merchant, f"login merchant {data['merchant']} != {merchant}"
    assert assert_ok(call("GET", "/v1/me", token=data["token"]))["id"] == merchant["id"]


def test_login_email_is_case_insensitive():
    email = unique_email()
    spelled = email.replace("e2e-", "E2E-").replace("example.com", "Example.com")
    register(email=spelled)
    check_each([spelled, email, email.upper()], lambda e: assert_ok(login(e)))


def test_login_wrong_password_and_unknown_email_401_same_message():
    merchant, _ = register()
    ip = fake_ip()
    wrong_pw = assert_envelope_error(login(merchant["email"], "wrong password!", ip=ip), 401, "invalid_credentials")
    unknown = assert_envelope_error(login(unique_email(), PASSWORD, ip=ip), 401, "invalid_credentials")
    assert wrong_pw["message"] == unknown["message"], f"{wrong_pw['message']!r} != {unknown['message']!r}"


def test_logout_revokes_token():
    merchant, token = register()
    assert assert_ok(call("POST", "/v1/auth/logout", token=token)) == {"revoked": True}
    assert_envelope_error(call("GET", "/v1/me", token=token), 401, "unauthorized")
    assert_envelope_error(call("POST", "/v1/auth/logout", token=token), 401, "unauthorized")


def test_logout_keeps_other_sessions():
    merchant, first = register()
    second = assert_ok(login(merchant["email"]))["token"]
    assert second != first
    assert_ok(call("POST", "/v1/auth/logout", token=first))
    assert_ok(call("GET", "/v1/me", token=second))


def test_logout_without_token_401():
    assert_envelope_error(call("POST", "/v1/auth/logout"), 401, "unauthorized")


def test_logout_with_api_key_400():
    _, token = register()
    key = create_key(token)["key"]
    assert_envelope_error(call("POST", "/v1/auth/logout", token=key), 400, "bad_request")
    assert_ok(call("GET", "/v1/me", token=key))


def test_me_rejects_bad_credentials():
    _, token = register()
    check_each([None, "Basic x", "Bearer ", "Bearer", token, "Token " + token, f"Bearer {token} extra",
                "Bearer not-a-token", "Bearer " + token[:-1], "Bearer mst_" + uuid.uuid4().hex * 2,
                "Bearer sk_" + uuid.uuid4().hex * 2],
               lambda value: assert_envelope_error(call("GET", "/v1/me", headers={"Authorization": value}),
                                                   401, "unauthorized"))


# --- API keys ---------------------------------------------------------------

def key_ids(token):
    keys = assert_ok(call("GET", "/v1/api-keys", token=token))["apiKeys"]
    return [k["id"] for k in keys]


def test_api_key_lifecycle():
    merchant, token = register()
    created = create_key(token, "checkout server")
    assert set(created) >= {"id", "name", "key", "prefix", "createdAt"}, created
    assert created["id"].startswith("key_") and created["name"] == "checkout server"
    assert created["key"].startswith("sk_") and len(created["key"]) > 20, created["key"]
    assert created["prefix"].startswith("sk_") and created["key"].startswith(created["prefix"]), created
    assert created["prefix"] != created["key"]
    parse_ts(created["createdAt"])

    listed = assert_ok(call("GET", "/v1/api-keys", token=token))["apiKeys"]
    assert [k["id"] for k in listed] == [created["id"]], listed
    entry = listed[0]
    assert set(entry) == {"id", "name", "prefix", "createdAt", "lastUsedAt"}, f"list entry fields: {entry}"
    assert entry["prefix"] == created["prefix"] and entry["name"] == created["name"]
    assert entry["lastUsedAt"] is None, f"unused key has lastUsedAt {entry['lastUsedAt']!r}"
    assert created["key"] not in str(listed)

    me = assert_ok(call("GET", "/v1/me", token=created["key"]))
    assert me["id"] == merchant["id"]
    entry = assert_ok(call("GET", "/v1/api-keys", token=token))["apiKeys"][0]
    parse_ts(entry["lastUsedAt"])

    deleted = assert_ok(call("DELETE", f"/v1/api-keys/{created['id']}", token=token))
    assert deleted == {"id": created["id"], "revoked": True}, deleted
    assert_envelope_error(call("GET", "/v1/me", token=created["key"]), 401, "unauthorized")
    assert created["id"] not in key_ids(token)
    assert_envelope_error(call("DELETE", f"/v1/api-keys/{created['id']}", token=token), 404, "not_found")


def test_api_keys_listed_newest_first_and_usable_everywhere():
    _, token = register()
    first, second = create_key(token, "one"), create_key(token, "two")
    assert key_ids(token) == [second["id"], first["id"]]
    # a key works on every protected route, including key management itself
    third = assert_ok(call("POST", "/v1/api-keys", {"name": "three"}, token=first["key"]), 201)
    assert key_ids(first["key"]) == [third["id"], second["id"], first["id"]]


def test_api_key_name_validation():
    _, token = register()
    check_each([({}, "name"), ({"name": ""}, "name"), ({"name": "n" * 81}, "name"), ({"name": 7}, "name"),
                ({"name": None}, "name"), ({"name": "ok", "scope": "all"}, "scope")],
               lambda case: assert_invalid_field(call("POST", "/v1/api-keys", case[0], token=token), case[1]))
    assert create_key(token, "n" * 80)["name"] == "n" * 80
    assert len(key_ids(token)) == 1


def test_api_key_delete_unknown_404():
    _, token = register()
    for key_id in ("key_" + uuid.uuid4().hex, "nope"):
        assert_envelope_error(call("DELETE", f"/v1/api-keys/{key_id}", token=token), 404, "not_found")


def test_api_keys_are_private_to_their_merchant():
    _, token_a = register()
    _, token_b = register()
    key_a, key_b = create_key(token_a, "a"), create_key(token_b, "b")
    assert key_ids(token_a) == [key_a["id"]]
    assert key_ids(token_b) == [key_b["id"]]
    assert_envelope_error(call("DELETE", f"/v1/api-keys/{key_b['id']}", token=token_a), 404, "not_found")
    assert_envelope_error(call("DELETE", f"/v1/api-keys/{key_b['id']}", token=key_a["key"]), 404, "not_found")
    assert_ok(call("GET", "/v1/me", token=key_b["key"]))
    assert key_ids(token_b) == [key_b["id"]]


def test_row_level_security_on_api_keys():
    merchant_a, token_a = register()
    merchant_b, token_b = register()
    create_key(token_a, "a1"), create_key(token_a, "a2"), create_key(token_b, "b1")
    select = "SELECT 'ROW:' || merchant_id FROM api_keys"

    def rows(*statements):
        out = psql(list(statements), app=True)
        return [line.strip()[4:] for line in out.splitlines() if line.strip().startswith("ROW:")]

    def scoped(mer):
        return f"SELECT set_config('app.merchant_id', '{mer}', false)"

    assert rows(scoped(merchant_a["id"]), select) == [merchant_a["id"]] * 2
    assert rows(scoped(merchant_b["id"]), select) == [merchant_b["id"]]
    assert rows(select) == [], "commerce_app without app.merchant_id sees rows"
    # writes are scoped too: A cannot revoke B's key underneath the API
    psql([scoped(merchant_a["id"]), f"DELETE FROM api_keys WHERE merchant_id = '{merchant_b['id']}'"],
         app=True, check=False)  # zero rows deleted, or no DELETE privilege at all
    assert rows(scoped(merchant_b["id"]), select) == [merchant_b["id"]]


def test_expired_session_token_refused():
    """A session token past its expiry is refused like a revoked one; an API
    key of the same merchant still works."""
    merchant, token = register()
    key = create_key(token, "still valid")["key"]
    assert_ok(call("GET", "/v1/me", token=token))
    # Time passes: the session's expiry is moved into the past, as the
    # clock would (TOKEN_TTL_SECONDS is a day in the test stack).
    assert merchant["id"].startswith("mer_") and merchant["id"][4:].isalnum()
    psql([f"UPDATE sessions SET expires_at = now() - interval '1 second' "
          f"WHERE merchant_id = '{merchant['id']}'"])
    assert_envelope_error(call("GET", "/v1/me", token=token), 401, "unauthorized")
    assert_ok(call("GET", "/v1/me", token=key))
