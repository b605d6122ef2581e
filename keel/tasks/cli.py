import click

@click.command()
def tasks() -> None:
    pass

worker = tasks
