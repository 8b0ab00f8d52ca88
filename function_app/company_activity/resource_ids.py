"""Azure resource ids the app is configured with: the Data Factory that runs the load.

Kept below settings and orchestration, so the settings can check `DATA_FACTORY_RESOURCE_ID` at start-up
and the Data Factory client can build its URLs from the same parsed form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from company_activity.errors import InputError

FACTORY_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9A-Za-z-]+)/resourceGroups/(?P<group>[-\w._()]{1,90})"
    r"/providers/Microsoft\.DataFactory/factories/(?P<factory>[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)$",
    re.IGNORECASE,
)


class ResourceIdError(InputError):
    """A string is not the resource id it must be."""


@dataclass(frozen=True)
class FactoryRef:
    subscription: str
    resource_group: str
    factory: str

    @classmethod
    def parse(cls, resource_id: str) -> FactoryRef:
        match = FACTORY_ID.match(resource_id.strip())
        if match is None:
            raise ResourceIdError(
                "must be a Data Factory resource id: /subscriptions/<id>/resourceGroups/<group>/providers/"
                f"Microsoft.DataFactory/factories/<name>, got {resource_id!r}")
        return cls(match["subscription"], match["group"], match["factory"])

    @property
    def path(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.DataFactory/factories/{self.factory}")
