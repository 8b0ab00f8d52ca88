"""Azure Functions entry point (Python v2 model): the one FunctionApp, with the ingestion blueprints.

The worker imports this file with the app root (function_app/) on sys.path; it must not import the
local-only parts of company_activity (warehouse, pipeline, local, cli), which .funcignore leaves out.
"""

import azure.functions as func

from company_activity.functions import BLUEPRINTS

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
