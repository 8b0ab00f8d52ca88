"""Azure Functions entry point (Python v2 model): the one FunctionApp, with the ingestion blueprints.

The worker imports this file with the app root (function_app/) on sys.path; it must not import the
local-only parts of company_activity (warehouse, pipeline, local, cli), which .funcignore leaves out.
"""

import azure.functions as func

from company_activity.functions import BLUEPRINTS

# No function keys: every HTTP endpoint verifies the caller's Microsoft Entra token and app role itself
# (company_activity/functions/caller.py, docs/security.md); a shared key would identify nobody.
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
