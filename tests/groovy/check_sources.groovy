// Parses Groovy files with this Groovy (2.4, as Jenkins) and reports, per file, what the convention tests need:
// whether it parses, each `sh` call's script (a constant, a constant @Field, or built from values), and the
// names of the methods it calls without a receiver (steps, vars, directives). Usage: FILE... OUTPUT.json
import groovy.json.JsonOutput
import org.codehaus.groovy.ast.CodeVisitorSupport
import org.codehaus.groovy.ast.ModuleNode
import org.codehaus.groovy.ast.expr.BinaryExpression
import org.codehaus.groovy.ast.expr.ConstantExpression
import org.codehaus.groovy.ast.expr.DeclarationExpression
import org.codehaus.groovy.ast.expr.Expression
import org.codehaus.groovy.ast.expr.MapExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.TupleExpression
import org.codehaus.groovy.ast.expr.VariableExpression
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

class SourceVisitor extends CodeVisitorSupport {
    Map<String, Expression> fields = [:]
    List<Map> shCalls = []
    Set<String> calls = new TreeSet<String>()

    void visitDeclarationExpression(DeclarationExpression expression) {
        if (expression.annotations.any { it.classNode.nameWithoutPackage == 'Field' }) {
            fields[expression.variableExpression.name] = expression.rightExpression
        }
        super.visitDeclarationExpression(expression)
    }

    void visitMethodCallExpression(MethodCallExpression call) {
        if (call.implicitThis) {
            calls << call.methodAsString
            if (call.methodAsString == 'sh') {
                Expression script = scriptOf(call.arguments)
                shCalls << [line: call.lineNumber, kind: kindOf(script), text: script?.text]
            }
        }
        super.visitMethodCallExpression(call)
    }

    static Expression scriptOf(Expression arguments) {
        List<Expression> given = arguments instanceof TupleExpression ? ((TupleExpression) arguments).expressions : [arguments]
        Expression first = given ? given[0] : null
        if (first instanceof MapExpression) {
            return ((MapExpression) first).mapEntryExpressions.find { it.keyExpression.text == 'script' }?.valueExpression
        }
        return first
    }

    String kindOf(Expression script) {
        if (isConstantText(script)) {
            return 'constant'
        }
        if (script instanceof VariableExpression && isConstantText(fields[script.name])) {
            return 'field'
        }
        return 'dynamic'
    }

    static boolean isConstantText(Expression expression) {
        if (expression instanceof ConstantExpression) {
            return expression.value instanceof String
        }
        if (expression instanceof BinaryExpression && expression.operation.text == '+') {
            return isConstantText(expression.leftExpression) && isConstantText(expression.rightExpression)
        }
        return false
    }
}

Map report(File file) {
    CompilationUnit unit = new CompilationUnit()
    unit.addSource(file)
    try {
        unit.compile(Phases.CONVERSION)
    } catch (Exception error) {
        return [parses: false, error: error.message]
    }
    // Twice: the first pass finds the @Field constants, the second classifies sh calls knowing all of them.
    SourceVisitor visitor = new SourceVisitor()
    SourceVisitor second = new SourceVisitor()
    [visitor, second].each { SourceVisitor pass ->
        second.fields = visitor.fields
        unit.AST.modules.each { ModuleNode module ->
            module.statementBlock.visit(pass)
            module.methods.each { if (it.code) { it.code.visit(pass) } }
        }
    }
    return [parses: true, sh: second.shCalls, calls: second.calls as List, fields: visitor.fields.keySet() as List,
            lines: file.readLines().size()]
}

List<String> paths = args.toList()
File output = new File(paths.remove(paths.size() - 1))
output.setText(JsonOutput.toJson(paths.collectEntries { [(it): report(new File(it))] }), 'UTF-8')
