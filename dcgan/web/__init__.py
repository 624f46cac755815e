"""The browser product: building the exported page (`page`) and serving it locally (`serve`).

The page's static files (index.html, app.js, worker.js, seeds.js) sit beside this module.
"""
