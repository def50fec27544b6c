// normalize(text) as a SQL scalar, as examples/udfs's: words split on
// whitespace, lowercased, joined by single spaces.
//
//   ferry pickle --js examples/javascript/normalize.js --args utf8 --returns utf8 -o normalize.closure
export default (text) =>
  text
    .split(/\s+/)
    .filter((word) => word.length > 0)
    .map((word) => word.toLowerCase())
    .join(" ");
