"""keel's hello world, for the idle-RSS measurement."""

from keel import App

app = App()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"message": "Hello, World!"}
