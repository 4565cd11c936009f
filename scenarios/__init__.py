"""stirmls scenarios: scripted multi-party runs against real clients and a real service.

Public entry points: ``scenarios.loader.load_scenario`` (a file to a validated
``scenarios.model.Scenario``, or ``ScenarioError`` naming the line and key),
``scenarios.runner.run_scenario`` (a real run: outputs in a directory, expectations
checked), ``scenarios.cli`` (``stirmls scenario run|check|list`` and ``stirmls demo``).
docs/scenarios.md describes the file format and the library in ``scenarios/library``.
"""
