// Small DOM helpers the pages share: find, write text only when it changed (so that live
// regions do not repeat themselves), build elements, and replay a highlight.

/**
 * The first element matching `selector` under `root` (null if none). The pages look up
 * the HTML elements of their own templates.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {HTMLElement}
 */
export function $(selector, root = document) {
  return /** @type {HTMLElement} */ (root.querySelector(selector));
}

/**
 * @param {HTMLElement} element
 * @param {string} text
 */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/**
 * An element with its attributes (true: present and empty; false, null, undefined: absent)
 * and its children (null and undefined left out).
 * @param {string} tag
 * @param {Record<string, string | boolean | null | undefined>} [attributes]
 * @param {...(Node | string | null | undefined)} children
 * @returns {HTMLElement}
 */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

/**
 * Plays the element's "flash" highlight again, even when it still has the class.
 * @param {HTMLElement} element
 */
export function flash(element) {
  element.classList.remove("flash");
  void element.offsetWidth; // restart the animation
  element.classList.add("flash");
}

/**
 * The lot of the table row that has the keyboard's focus, if any: rows rebuilt on an
 * update give it back to the same lot.
 * @returns {string | undefined}
 */
export function focusedRowLot() {
  return /** @type {HTMLElement | null | undefined} */ (document.activeElement?.closest?.("tr[data-lot]"))?.dataset.lot;
}

/**
 * Gives each body cell of a table its column's name (`data-label`), for the narrow layout
 * that shows a row as a card (style.css).
 * @param {HTMLElement} table
 */
export function labelColumns(table) {
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const row of table.querySelectorAll("tbody tr")) {
    [...row.children].forEach((cell, index) => {
      if (cell.tagName === "TD" && names[index]) cell.setAttribute("data-label", names[index]);
    });
  }
}
