"""Named scenarios of the simulated utility: one YAML file each in this directory.

A scenario file says what goes wrong (`effects`, applied by `simulator.utility`) and what the
monitoring must do about it (`expect`, checked by the end-to-end test). Placeholders in `expect`
(`{concentrator}`, `{modem}`, `{comuna}`, `{job}`) are the objects the utility picked for the scenario.

    name: grid-outage
    description: one line
    concentrator_rank: 1        # the scenario's concentrator: the inventory's concentrators ranked by
                                # meter count, largest first (each scenario its own rank)
    effects:
      meters: {flags: [PUP, AFC], share: 1.0}           # meters of the concentrator with these flags
      concentrator: {reachable: false}                   # its status-word report row
      concentrator: {conditions: [A, E]}                 # CSW flags put in their alarm state (`all`: every
                                                         # flag of the catalog that has one)
      workorders: {error: "...", share: 1.0}             # its work orders fail with this error text
      modem: {present: false, ip_presence: NOK,          # its router in OpenGate
              admin_state: SUSPENDED, sim_state: SUSPENDED}
      cloudera: {criticality: critical, status: late}    # a Cloudera job of the schedule
      garbage: {kind: swe}                               # an unreadable file in the SMMePlus inbox
    expect:
      firing: [{alertname, labels}]                      # in Prometheus
      actions: [{alertname, action, system, project|command}]   # by the receiver, in the fake
      inhibited: [{alertname, labels}]                   # firing in Prometheus, suppressed by Alertmanager
      not_firing: [{alertname, labels}]
      metrics: [{expr, min}]                             # PromQL whose value must reach `min`

The concentrators the named scenarios act on carry no background noise on any day (the utility keeps
them quiet), so what a scenario switches on and off is all they show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smmc.yamlfile import read_yaml

SCENARIO_DIR = Path(__file__).resolve().parent
EFFECTS = {"meters", "concentrator", "workorders", "modem", "cloudera", "garbage"}
EXPECTATIONS = {"firing", "actions", "inhibited", "not_firing", "metrics"}


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    effects: dict[str, dict[str, Any]]
    expect: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    concentrator_rank: int | None = None
    path: Path | None = None

    @property
    def needs_concentrator(self) -> bool:
        return bool({"meters", "concentrator", "workorders", "modem"} & set(self.effects))


def parse_scenario(doc: Any, source: str) -> Scenario:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}: a scenario is a YAML mapping")
    missing = [k for k in ("name", "description", "effects") if k not in doc]
    if missing:
        raise ScenarioError(f"{source}: missing {', '.join(missing)}")
    effects = doc["effects"]
    if not isinstance(effects, dict) or not effects:
        raise ScenarioError(f"{source}: effects must be a non-empty mapping")
    unknown = sorted(set(effects) - EFFECTS)
    if unknown:
        raise ScenarioError(f"{source}: unknown effects {unknown}; known: {sorted(EFFECTS)}")
    expect = doc.get("expect") or {}
    unknown = sorted(set(expect) - EXPECTATIONS)
    if unknown:
        raise ScenarioError(f"{source}: unknown expectations {unknown}; known: {sorted(EXPECTATIONS)}")
    rank = doc.get("concentrator_rank")
    scenario = Scenario(
        name=str(doc["name"]),
        description=str(doc["description"]),
        effects={k: dict(v or {}) for k, v in effects.items()},
        expect={k: list(v or []) for k, v in expect.items()},
        concentrator_rank=None if rank is None else int(rank),
        path=Path(source) if source else None,
    )
    if scenario.needs_concentrator and scenario.concentrator_rank is None:
        raise ScenarioError(f"{source}: effects on a concentrator need `concentrator_rank`")
    return scenario


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A scenario by name (a file of this directory) or by path to a YAML file of one's own."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yml"
    if not path.exists():
        known = ", ".join(sorted(available()))
        raise ScenarioError(f"no scenario {name_or_path!r}; known: {known}")
    scenario = parse_scenario(read_yaml(path, ScenarioError), str(path))
    if path.parent == SCENARIO_DIR and scenario.name != path.stem:
        raise ScenarioError(f"{path}: name {scenario.name!r} differs from the file name")
    return scenario


def available() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yml"))


def load_all() -> dict[str, Scenario]:
    return {name: load_scenario(name) for name in available()}
