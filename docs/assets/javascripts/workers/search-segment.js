/*
 * The Chinese edition's search worker: Material's own worker, with the query's Chinese words
 * segmented by the words of the search index before Material's worker sees the query.
 *
 * overrides/main.html (block `config`) makes Material start this file as the Chinese edition's search
 * worker (docs/zh/assets is docs/assets: the English edition has the file too, and does not start it),
 * with Material's worker named in the address (`?worker=search.<hash>.min.js`). This file listens to the
 * worker's messages first, then loads Material's worker beside it (importScripts), which answers
 * them as always. Messages are Material's: {type: 0 (setup), data: the search index} and
 * {type: 2 (query), data: the query typed}.
 *
 * Material splits a run of Chinese characters in a query into the words of its index, but never
 * tries a word that ends at the run's last character (its loop stops one short; see
 * CONTRIBUTING.md, "Upgrading tools"): 「注意力权重」 is searched as 「注意力」, and a run whose
 * first characters are no word at all is searched whole. This worker segments each run itself,
 * longest word of the index first, and hands Material each word followed by a character that is in
 * no word, so that Material's loop reaches the word's end and keeps it whole; the rest of a run (a
 * word still being typed) goes to Material as it is. Each word is searched as three kinds of lunr
 * terms (lunr's query syntax: `*` a wildcard, `text:` one field, `^N` a boost), see segmentRun. It
 * also puts a space between Chinese characters and Latin letters or digits, which the index holds
 * as separate words ("KV缓存" is searched as "KV 缓存").
 */

const SETUP = 0
const QUERY = 2

/* A run of Chinese characters; a Chinese character next to a letter or digit of another script */
const HAN = /\p{sc=Han}+/gu
const BOUNDARY = /(?<=\p{sc=Han})(?=[\p{L}\p{N}])(?!\p{sc=Han})|(?<=[\p{L}\p{N}])(?<!\p{sc=Han})(?=\p{sc=Han})/gu

/* Characters that end a word for Material's loop; the first one that is in no word is used */
const ENDS = ["〇", "㐀", "䶵"]

/* Material's worker: its name only (it lies beside this file), nothing else is loaded */
const worker = new URL(self.location.href).searchParams.get("worker") || ""
if (!/^search\.[0-9a-f]+\.min\.js$/.test(worker))
  throw new Error(`search-segment.js: ?worker= must name Material's search worker, got "${worker}"`)

let words = new Set()
let end = ENDS[0]

/**
 * The Chinese words of the search index: its texts split as Material splits them (at its separator,
 * where the build put a zero-width space between the words that jieba found).
 */
function indexWords(index) {
  const separator = new RegExp(index.config.separator, "u")
  const found = new Set()
  for (const doc of index.docs)
    for (const piece of `${doc.title} ${doc.text}`.split(separator))
      for (const run of piece.match(HAN) || [])
        found.add(run)
  return found
}

/**
 * The words of the index that `text` is made of, longest first from the left, at most `longest`
 * characters each; and what is left where no word begins (a word still being typed).
 */
function split(text, longest) {
  const found = []
  let i = 0
  while (i < text.length) {
    let j = Math.min(text.length, i + longest)
    while (j > i && !words.has(text.slice(i, j)))
      j--
    if (j === i)
      return [found, text.slice(i)]
    found.push(text.slice(i, j))
    i = j
  }
  return [found, ""]
}

/*
 * How much each kind of term weighs (lunr boosts; only their ratios within a field matter, since
 * lunr divides each field's score by the length of the query's vector for that field).
 */
const WHOLE = 3   // the word typed, and the words of the index it begins (Material's own prefix search)
const INSIDE = 1  // the words of the index that hold it: 自注意力 and 多头注意力 for 注意力
const PART = 1    // the words of two characters or more a longer word is made of, in the text only

/**
 * A run of Chinese characters as terms for Material. Each word of the index in it is searched
 * - whole, and as the start of longer words (「注意力」 finds 注意力权重), weighing the most;
 * - inside longer words (「注意力」 finds 自注意力 and 多头注意力, as "attention" finds
 *   "self-attention" in English: the glossary's compounds are single words of the index);
 * - and, for a word of four characters or more, as the words of two characters or more it is made
 *   of (「因果掩码」: 因果, 掩码; 「全被掩蔽的行」: 掩蔽; not 注意力, whose 注意 says something else), in
 *   the text only: a section that writes only the parts is found, after one that writes the word,
 *   and a heading that names only a part (「掩码」) does not outrank a section that writes the whole
 *   term (Material weighs a title a thousand times a text).
 * Every term carries a boost (`^N`), so Material adds no trailing wildcard of its own (the first
 * kind's is written here).
 */
function segmentRun(run) {
  const [found, rest] = split(run, run.length)
  const terms = []
  for (const word of found) {
    terms.push(`${word}${end}*^${WHOLE}`, `*${word}${end}*^${INSIDE}`)
    if (word.length > 3)
      for (const part of split(word, word.length - 1)[0].filter(part => part.length > 1))
        terms.push(`text:${part}${end}^${PART}`)
  }
  return [...terms, rest].filter(Boolean).join(" ")
}

/** The query as Material's worker should see it. */
function segmentQuery(query) {
  return query.replace(BOUNDARY, " ").replace(HAN, segmentRun)
}

addEventListener("message", event => {
  const message = event.data
  if (message.type === SETUP) {
    words = indexWords(message.data)
    end = ENDS.find(character => !words.has(character)) || ENDS[0]
  } else if (message.type === QUERY && typeof message.data === "string") {
    message.data = segmentQuery(message.data)
  }
})

importScripts(worker)
