import os

def handler(event, context):
    return {"stage": os.environ["STAGE"], "greeting": os.environ["GREETING"], "cwd": os.getcwd(), "extra": os.environ.get("EXTRA")}
