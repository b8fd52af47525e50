"""Plugin steps and a connector for ``tests/e2e/test_settings_effects.py``.

Load with ``AETHERFLOW_PLUGIN_PATHS=tests/flows/settings/plugins``.

* connector ``db``/``counting``: counts its instances in a class attribute (one process = one
  CLI run, so the count is per run).
* ``connector_count``: gets the connector of ``resource`` twice through
  ``ctx.connectors.get(kind, name)`` and outputs how many instances exist and whether both calls
  returned the same one.
* ``resource_user``: outputs the ``user`` config field of ``resource`` (after rendering and
  ``decode``).
"""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from aetherflow.core.api import (
    ConnectorBase,
    ConnectorInit,
    Step,
    register_connector,
    register_step,
)


@register_connector("db", "counting")
class CountingDb(ConnectorBase):
    instances: ClassVar[int] = 0

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        CountingDb.instances += 1


class ResourceInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: str


@register_step("connector_count")
class ConnectorCount(Step):
    Inputs = ResourceInputs

    def run(self) -> dict[str, Any]:
        first = self.ctx.connectors.get("db", self.params.resource)
        second = self.ctx.connectors.get("db", self.params.resource)
        return {"instances": CountingDb.instances, "same": first is second}


@register_step("resource_user")
class ResourceUser(Step):
    Inputs = ResourceInputs

    def run(self) -> dict[str, Any]:
        connector = self.ctx.connectors.get("db", self.params.resource)
        return {"user": connector.config["user"]}
