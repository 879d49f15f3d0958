"""One module per operator; the add-on's ``__init__`` lists (and registers) every class."""
