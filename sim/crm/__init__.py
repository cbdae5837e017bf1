"""CRM exports in, calibration targets out (issue 23, part 1).

``python run.py crm targets EXPORT`` (or :func:`targets_from_export`) reads an opportunities export (CSV or
Parquet; a Salesforce Opportunity export, a HubSpot deals export, or any layout through a small column map), cleans
it with every excluded row counted by reason, computes the funnel figures the engine has metrics for (win rate,
by segment; no-decision share; median cycle and ACV by segment; leads per month and lead-to-opportunity rate with
a leads file) and some it has not (win rate by lead source, opportunities per month, expansion share, the mix by
source), each with an sd from a bootstrap over accounts, and writes a calibration targets file that
``python run.py calibrate`` runs as it is, with a data report beside it.

Modules: ``schema`` (canonical fields, the built-in maps, a user's column map), ``read`` (reading, mapping,
cleaning), ``figures`` (the figures and the bootstrap), ``targets`` (the targets file and the report).
"""

from sim.crm.figures import Window
from sim.crm.schema import FIELDS, SIZE_BANDS, ColumnMap, load_column_map
from sim.crm.targets import CrmTargets, targets_from_export

__all__ = ["targets_from_export", "CrmTargets", "ColumnMap", "load_column_map", "FIELDS", "SIZE_BANDS", "Window"]
