from tests.factories import PASSWORD, make_user


def test_sign_in_and_out(client, actions, backend):
    make_user("ana@example.com", username="ana")
    response = actions.login("ANA@example.com", PASSWORD)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert b"ana@example.com" in client.get("/").data
    actions.logout()
    assert client.get("/").status_code == 302
