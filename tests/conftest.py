# The core's fixtures (app, client, runner, tenant, user, login) come from core.testing, which is
# registered as a pytest plugin by the package's entry points: plugin authors get the same ones.
