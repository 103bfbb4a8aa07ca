"""The Locust driver. **Imported only inside Locust processes**: importing it imports Locust,
which monkey-patches the whole process with gevent (the pytest plugin never imports it).

``harness/load/locustfile.py`` (re-exported by ``scenarios/locustfile.py``) is the locustfile:
``locust -f scenarios/locustfile.py --chaos-scenario scenarios/demo.yaml`` runs a scenario with
the web UI; ``harness load scenarios/demo.yaml`` runs it headless with a live progress line.
"""
