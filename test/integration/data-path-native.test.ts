import { dataPathCases } from "../helpers/data-paths";
import { dataPathSuite } from "../helpers/data-path-suite";

dataPathSuite(dataPathCases().find((c) => c.name === "native")!);
