// Stands in for the `debug` package inside the bundle (scripts/bundle.mjs): oclif creates its loggers while it
// loads, and the real package (with node:tty and supports-color) costs start-up time on every run. It is
// loaded only when DEBUG asks for output, as the real one reads DEBUG once at load too.
const silent = Object.assign(() => {}, {enabled: false})

module.exports = process.env.DEBUG ? require('../node_modules/debug/src/index.js') : () => silent
