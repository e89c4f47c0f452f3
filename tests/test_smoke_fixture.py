from models import User


def test_database_fixture_binds_models(database):
    User.create(user_id="u-1", profile={"mutuelle": "MGEN"})
    assert User.select().count() == 1
