// These functions read the server's own markup, which quotes every attribute. They are not a general HTML parser.

/** Returns the attributes of every `<name ...>` start tag in `html`, with attribute names lower-cased. */
export function startTags(html: string, name: string): Array<Record<string, string>> {
  const tags: Array<Record<string, string>> = [];
  const tagPattern = new RegExp(`<${name}\\b([^>]*)>`, 'gi');

  for (const tag of html.matchAll(tagPattern)) {
    const attributes: Record<string, string> = {};
    const attributePattern = /([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g;
    for (const attribute of (tag[1] ?? '').matchAll(attributePattern)) {
      const attributeName = (attribute[1] ?? '').toLowerCase();
      attributes[attributeName] = attribute[2] ?? attribute[3] ?? attribute[4] ?? '';
    }
    tags.push(attributes);
  }
  return tags;
}

/** Returns the text of `html` without tags, with the five entities of escapeHtml decoded and whitespace collapsed. */
export function textOf(html: string): string {
  return html
    .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&')
    .trim();
}
