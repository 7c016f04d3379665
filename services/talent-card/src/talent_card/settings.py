from plan_runtime import RuntimeSettings


class Settings(RuntimeSettings):
    db_schema: str = "talent_card"
