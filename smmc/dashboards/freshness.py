"""How fresh each source's data is: the colours of its age, the same on every dashboard that shows it
(Overview, Monitoring health, Data platform)."""

from __future__ import annotations

from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import alert_steps
from smmc.dashboards.panels import Query

DAY = 86400
# the SMMePlus files are daily: orange once a day has passed, red where SourceFileStale fires
FILE_AGE_STEPS = alert_steps("SourceFileStale", "source_max_age_seconds", warn_from=DAY)
# OpenGate is polled every minute
POLL_AGE_STEPS = p.levels(300, 900)
# the Cloudera status report is daily, with two hours of slack
REPORT_AGE_STEPS = p.levels(26 * 3600, 48 * 3600)
# time since the SMMePlus exporter last ingested a file of each kind (SWE, HPE, LPE, CSW...)
FILE_AGE = Query("time() - max by (kind) (smmc_source_last_ingest_timestamp_seconds)", "{{kind}}")
