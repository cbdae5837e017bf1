"""Analysis: experiments (strategies x replications), the one statistics module, charts, the
HTML page shell and reports. Imported on demand: ``import sim`` loads no matplotlib."""
