"""CRM exports in, calibration targets and scenarios out (issue 23).

``python run.py crm targets EXPORT`` (or :func:`targets_from_export`) reads an opportunities export (CSV or
Parquet; a Salesforce Opportunity export, a HubSpot deals export, or any layout through a small column map), cleans
it with every excluded row counted by reason, computes the funnel figures the engine has metrics for (win rate,
by segment; no-decision share; median cycle and ACV by segment; leads per month and lead-to-opportunity rate with
a leads file) and some it has not (win rate by lead source, opportunities per month, expansion share, the mix by
source), each with an sd from a bootstrap over accounts, and writes a calibration targets file that
``python run.py calibrate`` runs as it is, with a data report beside it.

``python run.py crm scenario EXPORT`` (or :func:`scenario_from_export`) reads the same export (and an accounts
file) and writes a scenario file: the preset's, with the market size, the segment mix and the deal sizes where the
data hold them, each key's origin, source and bootstrap sd said, and what the export cannot hold listed.

Modules: ``schema`` (canonical fields, the built-in maps, a user's column map), ``read`` (reading, mapping,
cleaning), ``figures`` (the figures and the bootstrap), ``targets`` (the targets file and the report), ``scenario``
(the scenario file).
"""

from sim.crm.figures import Window
from sim.crm.schema import FIELDS, SIZE_BANDS, ColumnMap, load_column_map
from sim.crm.scenario import CrmScenario, scenario_from_export
from sim.crm.targets import CrmTargets, targets_from_export

__all__ = ["targets_from_export", "CrmTargets", "scenario_from_export", "CrmScenario", "ColumnMap", "load_column_map",
           "FIELDS", "SIZE_BANDS", "Window"]
