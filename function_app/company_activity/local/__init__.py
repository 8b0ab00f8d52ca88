"""Local stand-ins for the Azure services: Azurite, the usage-API simulator, a Slack catcher."""
