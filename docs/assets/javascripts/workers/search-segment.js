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
 * longest word of the index first (and each long word into its parts, see segmentRun), and hands
 * Material each word followed by a character that is in no word, so that Material's loop reaches
 * the word's end and keeps it whole; the rest of a run (a word still being typed) goes to Material
 * as it is. It also puts a space between Chinese
 * characters and Latin letters or digits, which the index holds as separate words ("KV缓存" is
 * searched as "KV 缓存").
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

/**
 * A run of Chinese characters as terms for Material: each word of the index in it, kept whole, and
 * the shorter words that a word of three characters or more is made of (「因果掩码」: 因果掩码, 因果,
 * 掩码): a section that writes the whole word scores more than one that writes only its parts, and
 * those are found too, as for a query of several words.
 */
function segmentRun(run) {
  const [found, rest] = split(run, run.length)
  const terms = []
  for (const word of found) {
    terms.push(word)
    if (word.length > 2)
      terms.push(...split(word, word.length - 1)[0])
  }
  return [...terms.map(term => term + end), rest].filter(Boolean).join(" ")
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
