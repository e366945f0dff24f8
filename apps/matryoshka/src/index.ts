export { ExitStatus, UsageError, buildProgram, main } from "./cli.js";
