"""Company Activity Pipeline: usage API + CRM -> fact_daily_company_activity."""

__version__ = "0.1.0"
