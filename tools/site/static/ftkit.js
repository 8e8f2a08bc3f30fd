// Exported source under a show_doc starts unfolded, as Quarto's `code-fold: show` does.
document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('div.cell.tag_ftkit-open details').forEach(d => { d.open = true; });
});
