from setup_portal.azure.errors import catalogued_codes, explain, reauthentication_code

REQUIRED = ["50011", "50126", "50076", "53003", "7000215", "7000222", "65001", "65004", "90094", "650057",
            "700016", "500011", "50194", "54005", "700082", "90002"]
WIZARD_STAGES = {"account", "environment", "application", "keys", "permissions", "review", "authorize", "instance",
                 "reauth", None}


def test_every_required_code_is_explained():
    for number in REQUIRED:
        explanation = explain(number)
        assert explanation.code == f"AADSTS{number}"
        assert f"AADSTS{number}" in catalogued_codes()
        assert explanation.title != explain("no-such-code").title


def test_it_sends_the_admin_to_the_stage_that_fixes_it():
    assert explain("AADSTS7000215").fix_stage == "keys"
    assert explain("AADSTS50011").fix_stage == "application"
    assert explain("65004").fix_stage == "authorize"
    assert explain("AADSTS90002").fix_stage == "environment"
    assert explain("AADSTS54005").fix_stage == "authorize"
    assert explain("AADSTS700082").needs_reauthentication
    assert explain("invalid_grant").needs_reauthentication
    assert all(explain(code).fix_stage in WIZARD_STAGES for code in catalogued_codes())


def test_it_reads_codes_from_azure_descriptions():
    assert explain("AADSTS7000215: Invalid client secret provided.").code == "AADSTS7000215"


def test_it_explains_dataverse_and_transport_failures():
    assert "application user" in explain("dataverse_403").what_to_do
    assert "401" in explain("dataverse_401").what_happened
    assert "HTTP 503" in explain("http_503").what_happened
    assert explain("something-new").title == "Something went wrong"


def test_it_decides_once_which_answers_need_a_new_sign_in():
    for code in ["AADSTS50173", "AADSTS700084", "AADSTS700082", "AADSTS70008", "AADSTS7000222", "invalid_grant",
                 "interaction_required", "no_account", "AADSTS50076", "AADSTS50079"]:
        assert reauthentication_code(code) == code
    assert reauthentication_code("invalid_grant", "AADSTS700084: The refresh token was issued to a SPA") \
        == "AADSTS700084"
    assert reauthentication_code("invalid_grant", "AADSTS50126: wrong password") == "invalid_grant"
    assert reauthentication_code("AADSTS7000215") is None
    assert reauthentication_code("dataverse_403") is None
    assert reauthentication_code("http_503", "AADSTS90033 temporarily unavailable") is None
