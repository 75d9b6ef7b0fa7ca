// Tiny DOM helpers. Text always goes in as text nodes (never innerHTML), so user-supplied
// strings such as chat messages or song titles can never become markup.

/**
 * Create an element: el('li', {class: 'msg', dataset: {id: '7'}, onclick: fn}, 'text', child)
 * Strings among the children become text nodes.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

/** Show a message in a status/alert element (empty text hides it). */
export function say(node, text, kind = 'info') {
  node.textContent = text || '';
  node.dataset.kind = kind;
  node.hidden = !text;
}

export function clear(node) {
  node.replaceChildren();
}

export function clock(ts) {
  const when = typeof ts === 'number' ? new Date(ts > 1e12 ? ts : ts * 1000) : new Date();
  return when.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
}

/** Copy button: copies the text of `source()` to the clipboard, says so briefly. */
export function copyButton(label, source) {
  const button = el('button', {type: 'button', class: 'small secondary', text: label});
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(source());
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Select and copy';
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}
