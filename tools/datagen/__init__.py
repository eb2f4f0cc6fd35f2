"""Synthetic dataset generation: schemas, row makers, validation, dedup, writers, reports.

The engine behind ``podium datagen``, the web app's Datasets tab and the datasets
specialist. :func:`tools.datagen.request.plan` turns options into a checked
:class:`tools.datagen.engine.Job`; :func:`tools.datagen.engine.run` makes it;
:func:`tools.datagen.report.write_report` shows it.
"""
