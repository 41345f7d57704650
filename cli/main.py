"""The `kregs` command group."""

import click

import kregs


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(kregs.__version__, prog_name="kregs")
def main():
    """kregs: search and study L2, dropout and batch normalization for Keras models."""
