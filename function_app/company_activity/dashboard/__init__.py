"""The Company Activity Dashboard: what it shows, read from the rpt views (data), the pipeline run history
it reports (runs), one self-contained HTML page (render). Shared by the Function app's GET /api/dashboard
and the local `company-activity dashboard` command."""
