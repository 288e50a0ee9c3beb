# moto_server with one workaround, for the cdk diff test (started through the venv's Python by
# cdkdiff_test.go; arguments as for moto_server).
#
# moto 5.2.5 gives an AWS::CloudFormation::Stack resource (a nested stack) its stack *name* as
# physical id. CloudFormation gives its stack ARN (Ref of a nested stack is its stack id,
# arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>), which ListStackResources
# returns, and the CDK CLI cuts the nested stack's name out of that ARN (toolkit-lib
# nested-stack-helpers.ts, getNestedStackTemplates). The wrapper returns the ARN, as
# CloudFormation does.
import sys

from moto.cloudformation.models import Stack
from moto.server import main

Stack.physical_resource_id = property(lambda self: self.stack_id)

if __name__ == "__main__":
    sys.exit(main())
