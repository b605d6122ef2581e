"""The five-line hello world: ``keel run examples.hello:app``."""

from keel import App

app = App()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
