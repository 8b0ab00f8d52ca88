"""Starting and reading Data Factory runs from the Functions app (ARM REST with the app's managed identity)."""
