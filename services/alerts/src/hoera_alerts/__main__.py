from hoera_alerts.app import create_app


def main() -> None:
    create_app().run()


if __name__ == "__main__":
    main()
