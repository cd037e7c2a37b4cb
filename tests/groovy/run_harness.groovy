// Runs harness cases (JSON in args[0]) and writes their recordings (JSON to args[1]); see tests/jenkins_harness.py.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

Map input = (Map) new JsonSlurper().parse(new File(args[0]), 'UTF-8')
List results = input.cases.collect { Map c -> new PipelineHarness((String) input.root, c).run() }
new File(args[1]).setText(JsonOutput.toJson(results), 'UTF-8')
