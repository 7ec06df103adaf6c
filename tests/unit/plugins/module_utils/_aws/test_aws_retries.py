"""The retry settings of the one boto3 client factory, and the error when the attempt budget runs out. No socket."""
import botocore.exceptions
import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws import calls
from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AWS_ARGSPEC


def test_the_default_client_retries_in_standard_mode_with_ten_attempts_in_all():
    client = calls.client('elbv2', 'eu-west-1', 'http://127.0.0.1:9')
    assert client.meta.config.retries == {'mode': 'standard', 'total_max_attempts': 10}


@pytest.mark.parametrize('mode', ['standard', 'adaptive'])
def test_mode_and_attempt_budget_reach_botocore_as_total_attempts(mode):
    client = calls.client('servicediscovery', 'eu-west-1', 'http://127.0.0.1:9', retry_mode=mode, max_attempts=4)
    # botocore's own `max_attempts` key would mean 4 retries, 5 attempts.
    assert client.meta.config.retries == {'mode': mode, 'total_max_attempts': 4}


def test_the_old_three_argument_call_still_works():
    client = calls.client('elbv2', 'eu-west-1')
    assert client.meta.config.retries['total_max_attempts'] == calls.DEFAULT_MAX_ATTEMPTS


@pytest.mark.parametrize('mode', ['legacy', 'Standard', '', None])
def test_a_retry_mode_botocore_does_not_get_is_refused_by_name(mode):
    with pytest.raises(calls.AwsError) as error:
        calls.client('elbv2', 'eu-west-1', retry_mode=mode)
    assert error.value.message == 'aws_retry_mode (AWS_RETRY_MODE) must be one of standard, adaptive, got %r.' % mode


@pytest.mark.parametrize('attempts', [0, -1, 51, True, 2.5, '3'])
def test_an_attempt_budget_out_of_range_is_refused_by_name(attempts):
    expected = r'^aws_max_attempts \(AWS_MAX_ATTEMPTS\) counts every attempt .* from 1 to 50, got '
    with pytest.raises(calls.AwsError, match=expected) as error:
        calls.retry_config('standard', attempts)
    assert repr(attempts) in error.value.message


def test_the_bounds_are_accepted():
    assert calls.retry_config('adaptive', 1) == {'mode': 'adaptive', 'total_max_attempts': 1}
    assert calls.retry_config('standard', 50) == {'mode': 'standard', 'total_max_attempts': 50}


def test_the_module_options_default_to_the_factorys_defaults_and_read_botocores_variables():
    assert AWS_ARGSPEC['aws_retry_mode']['default'] == 'standard'
    assert AWS_ARGSPEC['aws_retry_mode']['choices'] == ['standard', 'adaptive']
    assert AWS_ARGSPEC['aws_retry_mode']['fallback'][1] == ['AWS_RETRY_MODE']
    assert AWS_ARGSPEC['aws_max_attempts']['default'] == 10
    assert AWS_ARGSPEC['aws_max_attempts']['fallback'][1] == ['AWS_MAX_ATTEMPTS']


def throttled(max_attempts_reached, retries):
    metadata = {'HTTPStatusCode': 400, 'RetryAttempts': retries}
    if max_attempts_reached:
        metadata['MaxAttemptsReached'] = True
    response = {'Error': {'Code': 'Throttling', 'Message': 'Rate exceeded'}, 'ResponseMetadata': metadata}
    return botocore.exceptions.ClientError(response, 'DescribeTargetHealth')


def raise_(exc):
    raise exc


def test_a_call_that_ran_out_of_attempts_names_the_setting_to_raise():
    with pytest.raises(calls.AwsError) as error:
        calls.call(lambda: raise_(throttled(True, 2)))
    assert error.value.code == 'Throttling'
    assert error.value.message == (
        'Throttling: Rate exceeded (DescribeTargetHealth). AWS throttled or failed all 3 attempts of this call (it '
        'throttles bursts of calls per account and Region). Raise aws_max_attempts (now 3; environment '
        'AWS_MAX_ATTEMPTS), or set aws_retry_mode to adaptive; docs/register_instance.md ("Bursts") shows how to '
        'size it for a fleet.')


def test_an_error_that_was_not_retried_out_stays_as_aws_said_it():
    with pytest.raises(calls.AwsError) as error:
        calls.call(lambda: raise_(throttled(False, 0)))
    assert error.value.message == 'Throttling: Rate exceeded'


def test_paginate_names_the_setting_too():
    class Client:
        def get_paginator(self, operation):
            raise throttled(True, 9)

    with pytest.raises(calls.AwsError, match=r'all 10 attempts .* Raise aws_max_attempts \(now 10;'):
        list(calls.paginate(Client(), 'describe_instances'))
