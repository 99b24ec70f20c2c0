"""An offline Azure for tests and demos: ARM, an Entra token endpoint and Graph v1.0 over HTTPS.

Entry points: `sandbox.server.Sandbox` (Python API), `sandbox.serve.main` (`shoko sandbox ...`),
`sandbox.estate.load_estate` (estate files). See sandbox/README.md. Production code never imports it.
"""
