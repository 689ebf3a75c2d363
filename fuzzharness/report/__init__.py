"""Reports: what a person or a tool reads about a run.

``campaign_report`` renders a campaign's JSON, Markdown, HTML, SARIF and JUnit;
``progress`` draws live progress and summaries. Imports: ``findings`` and below.
"""
